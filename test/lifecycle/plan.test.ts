// What a SCIM change means for a person's lifecycle, decided without the database.
import { describe, expect, it } from 'vitest';
import type { DetectedChange } from '../../src/lifecycle/detect.js';
import { finalEventStatus, planLifecycleChange } from '../../src/lifecycle/plan.js';

const now = new Date('2026-12-01T12:00:00Z');
const leaver = (effectiveAt?: Date): DetectedChange => ({ kind: 'leaver', changes: { active: { from: true, to: false } }, effectiveAt });
const rehire: DetectedChange = { kind: 'rehire', changes: { active: { from: false, to: true } } };
const mover: DetectedChange = { kind: 'mover', changes: { department: { from: 'Sales', to: 'Legal' } } };

describe('planLifecycleChange', () => {
  it('records a change when nobody is leaving', () => {
    expect(planLifecycleChange({ change: leaver(), withdrawn: false, openLeaver: false, now })).toEqual({ record: leaver() });
    expect(planLifecycleChange({ change: mover, withdrawn: false, openLeaver: false, now })).toEqual({ record: mover });
  });

  it('cancels the open leaver on a rehire, and records the rehire', () => {
    expect(planLifecycleChange({ change: rehire, withdrawn: false, openLeaver: true, now })).toEqual({
      cancelOpenLeaver: 'rehired before the leaver took effect',
      record: rehire,
    });
  });

  it('cancels the open leaver when its date is withdrawn, recording nothing else', () => {
    expect(planLifecycleChange({ change: null, withdrawn: true, openLeaver: true, now })).toEqual({ cancelOpenLeaver: 'termination date withdrawn' });
  });

  it('moves the open leaver to the new date instead of recording a second leaver', () => {
    const date = new Date('2027-01-31T17:00:00Z');
    expect(planLifecycleChange({ change: leaver(date), withdrawn: false, openLeaver: true, now })).toEqual({ rescheduleOpenLeaver: date.toISOString() });
    expect(planLifecycleChange({ change: leaver(), withdrawn: false, openLeaver: true, now })).toEqual({ rescheduleOpenLeaver: now.toISOString() });
  });

  it('does nothing for a withdrawn date with no open leaver', () => {
    expect(planLifecycleChange({ change: null, withdrawn: true, openLeaver: false, now })).toEqual({});
  });

  it('records a mover while a leaver is open, leaving the leaver be', () => {
    expect(planLifecycleChange({ change: mover, withdrawn: false, openLeaver: true, now })).toEqual({ record: mover });
  });
});

describe('finalEventStatus', () => {
  it('completes when every target settled', () => {
    expect(finalEventStatus(['succeeded', 'account_not_found', 'dry_run', 'cancelled', 'manual_action_required'])).toBe('completed');
    expect(finalEventStatus([])).toBe('completed');
  });

  it('needs attention when a target failed or never ran', () => {
    expect(finalEventStatus(['succeeded', 'needs_attention'])).toBe('needs_attention');
    expect(finalEventStatus(['pending', 'succeeded'])).toBe('needs_attention');
  });
});
