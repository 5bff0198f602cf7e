import { describe, expect, it } from 'vitest';
import { detectLifecycleChange, type LifecycleState } from '../../src/lifecycle/detect.js';

const base: LifecycleState = {
  active: true,
  deleted: false,
  department: 'Engineering',
  title: 'Engineer',
  managerId: null,
  costCenter: null,
  organization: null,
  division: null,
  terminationDate: null,
};

describe('detectLifecycleChange', () => {
  it('makes a new active identity a joiner and a new inactive one nothing', () => {
    expect(detectLifecycleChange(null, base)?.kind).toBe('joiner');
    expect(detectLifecycleChange(null, { ...base, active: false })).toBeNull();
  });

  it('makes active true to false a leaver, and a DELETE of a live identity a leaver', () => {
    expect(detectLifecycleChange(base, { ...base, active: false })?.kind).toBe('leaver');
    expect(detectLifecycleChange(base, { ...base, deleted: true })?.kind).toBe('leaver');
  });

  it('makes false to true a rehire', () => {
    expect(detectLifecycleChange({ ...base, active: false }, base)?.kind).toBe('rehire');
  });

  it('makes a department, title or manager change of a live identity a mover', () => {
    expect(detectLifecycleChange(base, { ...base, department: 'Sales' })).toEqual({
      kind: 'mover',
      changes: { department: { from: 'Engineering', to: 'Sales' } },
    });
    expect(detectLifecycleChange(base, { ...base, managerId: 'm-1' })?.kind).toBe('mover');
  });

  it('gives one event per change: a leaver who also moved is a leaver', () => {
    const change = detectLifecycleChange(base, { ...base, active: false, department: 'Sales' });
    expect(change?.kind).toBe('leaver');
    expect(Object.keys(change!.changes).sort()).toEqual(['active', 'department']);
  });

  it('finds nothing when nothing lifecycle-relevant changed, or when an inactive identity moves', () => {
    expect(detectLifecycleChange(base, { ...base })).toBeNull();
    expect(detectLifecycleChange({ ...base, active: false }, { ...base, active: false, department: 'Sales' })).toBeNull();
    expect(detectLifecycleChange({ ...base, active: false }, { ...base, active: false, deleted: true })).toBeNull();
  });
});
