// Turns one SCIM change into at most one lifecycle event (joiner, mover, leaver, rehire).
// Pure: the SCIM layer calls it inside the transaction that makes the change.

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
 */
export function detectLifecycleChange(before: LifecycleState | null, after: LifecycleState | null): DetectedChange | null {
  const changes = changedAttributes(before, after);
  if (Object.keys(changes).length === 0) return null;
  const wasLive = isLive(before);
  const isNowLive = isLive(after);
  if (before === null) return isNowLive ? { kind: 'joiner', changes } : null;
  if (wasLive && !isNowLive) return { kind: 'leaver', changes };
  if (!wasLive && isNowLive) return { kind: 'rehire', changes };
  if (wasLive && isNowLive && MOVER_ATTRIBUTES.some((key) => key in changes)) return { kind: 'mover', changes };
  return null;
}
