// What a SCIM change means for a person's lifecycle, decided without the database.
import { describe, expect, it } from 'vitest';
import type { DetectedChange } from '../../src/lifecycle/detect.js';
import { appliesOnItsDate, finalEventStatus, planLifecycleChange } from '../../src/lifecycle/plan.js';

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

describe('planLifecycleChange with a dated mover or rehire open', () => {
  const on = new Date('2027-01-15T00:00:00Z');
  const scheduledMover = { kind: 'mover' as const, effectiveAt: on, changes: { department: { from: 'Sales', to: 'Legal' } } };
  const datedMover = (effectiveAt: Date, to = 'Legal'): DetectedChange => ({ kind: 'mover', changes: { department: { from: 'Sales', to } }, effectiveAt });
  const base = { withdrawn: false, openLeaver: false, now };

  it('cancels it on a leaver now or dated no later, and records the leaver', () => {
    expect(planLifecycleChange({ ...base, change: leaver(), openScheduled: scheduledMover })).toEqual({
      cancelScheduled: `a leaver effective ${now.toISOString()} comes before the mover dated ${on.toISOString()}`,
      record: leaver(),
    });
    expect(planLifecycleChange({ ...base, change: leaver(on), openScheduled: scheduledMover }).cancelScheduled).toMatch(/^a leaver effective 2027-01-15/);
  });

  it('keeps it when the leaver is dated after it', () => {
    const later = leaver(new Date('2027-02-01T00:00:00Z'));
    expect(planLifecycleChange({ ...base, change: later, openScheduled: scheduledMover })).toEqual({ record: later });
  });

  it('moves it when the same change arrives with another date, and does nothing for the same date', () => {
    const date = new Date('2027-01-20T00:00:00Z');
    expect(planLifecycleChange({ ...base, change: datedMover(date), openScheduled: scheduledMover })).toEqual({ rescheduleScheduled: date.toISOString() });
    expect(planLifecycleChange({ ...base, change: datedMover(on), openScheduled: scheduledMover })).toEqual({});
  });

  it('replaces it with a different change of the same kind', () => {
    const other = datedMover(on, 'Finance');
    expect(planLifecycleChange({ ...base, change: other, openScheduled: scheduledMover })).toEqual({ cancelScheduled: `replaced by a mover dated ${on.toISOString()}`, record: other });
  });

  it('leaves it be for a mover today', () => {
    expect(planLifecycleChange({ ...base, change: mover, openScheduled: scheduledMover })).toEqual({ record: mover });
  });

  it('cancels a dated rehire when the person is rehired before it', () => {
    const scheduledRehire = { kind: 'rehire' as const, effectiveAt: on, changes: { active: { from: false, to: true } } };
    expect(planLifecycleChange({ ...base, change: rehire, openScheduled: scheduledRehire })).toEqual({
      cancelScheduled: `rehired before the rehire dated ${on.toISOString()} took effect`,
      record: rehire,
    });
  });
});

describe('appliesOnItsDate', () => {
  const created = new Date('2026-12-01T12:00:00Z');
  const later = new Date('2027-01-15T00:00:00Z');
  it('is a mover or rehire recorded before its date, never a leaver', () => {
    expect(appliesOnItsDate({ kind: 'mover', effectiveAt: later, createdAt: created })).toBe(true);
    expect(appliesOnItsDate({ kind: 'rehire', effectiveAt: later, createdAt: created })).toBe(true);
    expect(appliesOnItsDate({ kind: 'mover', effectiveAt: created, createdAt: created })).toBe(false);
    expect(appliesOnItsDate({ kind: 'leaver', effectiveAt: later, createdAt: created })).toBe(false);
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
