// Turns one SCIM change into at most one lifecycle event (joiner, mover, leaver, rehire).
// Pure: the SCIM layer calls it inside the transaction that makes the change.
import type { Identity } from '../generated/prisma/client.js';

export type LifecycleKind = 'joiner' | 'mover' | 'leaver' | 'rehire';

/** The attributes whose change makes a person a mover. */
export const MOVER_ATTRIBUTES = [
  'department',
  'title',
  'managerId',
  'costCenter',
  'organization',
  'division',
] as const;

export type MoverAttribute = (typeof MOVER_ATTRIBUTES)[number];

/** The lifecycle-relevant part of an identity row. */
export function lifecycleStateOf(identity: Identity | null): LifecycleState | null {
  if (!identity) return null;
  return {
    active: identity.active,
    deleted: identity.deletedAt !== null,
    department: identity.department,
    title: identity.title,
    managerId: identity.managerId,
    costCenter: identity.costCenter,
    organization: identity.organization,
    division: identity.division,
    terminationDate: identity.terminationDate,
  };
}

export interface LifecycleState {
  active: boolean;
  deleted: boolean;
  department: string | null;
  title: string | null;
  managerId: string | null;
  costCenter: string | null;
  organization: string | null;
  division: string | null;
  terminationDate: Date | null;
}

export interface DetectedChange {
  kind: LifecycleKind;
  /** Before and after of every lifecycle-relevant attribute that changed. */
  changes: Record<string, { from: unknown; to: unknown }>;
  /** When the change takes effect, if later than now (a future termination date). */
  effectiveAt?: Date;
}

function isLive(state: LifecycleState | null): state is LifecycleState {
  return state !== null && !state.deleted && state.active;
}

function changedAttributes(before: LifecycleState | null, after: LifecycleState | null) {
  const changes: DetectedChange['changes'] = {};
  const keys = ['active', 'deleted', 'terminationDate', ...MOVER_ATTRIBUTES] as const;
  for (const key of keys) {
    const from = before?.[key] ?? null;
    const to = after?.[key] ?? null;
    const same = from instanceof Date || to instanceof Date ? String(from) === String(to) : from === to;
    if (!same) changes[key] = { from, to };
  }
  return changes;
}

/**
 * One event per change, the most consequential winning: a leaver who also changed department is
 * a leaver. A new identity that arrives inactive is not a joiner; nothing downstream is asked.
 * A termination date set on a live identity makes a leaver that takes effect on that date (at
 * once if the date has passed), while the identity provider still reports the person active.
 */
export function detectLifecycleChange(before: LifecycleState | null, after: LifecycleState | null, now: Date = new Date()): DetectedChange | null {
  const changes = changedAttributes(before, after);
  if (Object.keys(changes).length === 0) return null;
  const wasLive = isLive(before);
  const isNowLive = isLive(after);
  if (before === null) {
    if (!isNowLive) return null;
    return after.terminationDate ? scheduledLeaver(changes, after.terminationDate, now) : { kind: 'joiner', changes };
  }
  if (wasLive && !isNowLive) return { kind: 'leaver', changes };
  if (!wasLive && isNowLive) return { kind: 'rehire', changes };
  if (wasLive && isNowLive && 'terminationDate' in changes && after.terminationDate) return scheduledLeaver(changes, after.terminationDate, now);
  if (wasLive && isNowLive && MOVER_ATTRIBUTES.some((key) => key in changes)) return { kind: 'mover', changes };
  return null;
}

function scheduledLeaver(changes: DetectedChange['changes'], date: Date, now: Date): DetectedChange {
  return date.getTime() > now.getTime() ? { kind: 'leaver', changes, effectiveAt: date } : { kind: 'leaver', changes };
}

/**
 * A mover or rehire an HR source dates ahead (docs/decisions/026-hr-webhook.md): what the person
 * will be from `effectiveAt`. The identity keeps its values until then; the event carries them in
 * its changes, and they are written when it takes effect (transitions.ts's beginEvent). Null when
 * `after` changes nothing that makes a mover or a rehire.
 */
export function detectScheduledChange(before: LifecycleState | null, after: LifecycleState, effectiveAt: Date): DetectedChange | null {
  const change = detectLifecycleChange(before, after, effectiveAt);
  if (change?.kind !== 'mover' && change?.kind !== 'rehire') return null;
  return { ...change, effectiveAt };
}

/** A termination date taken back while the person is still live: a scheduled leaver is off. */
export function terminationWithdrawn(before: LifecycleState | null, after: LifecycleState | null): boolean {
  return isLive(before) && isLive(after) && before.terminationDate !== null && after.terminationDate === null;
}
