// What a change means for a person's lifecycle, decided without touching the database: which
// open leaver to cancel or move, which event to record, and how an event ends given its targets.
// src/lifecycle/transitions.ts carries the plan out; keeping the decision pure lets it be tested
// case by case (test/lifecycle/plan.test.ts).
import type { DetectedChange, LifecycleKind } from './detect.js';

/** Leaver statuses in which the change has not been acted on yet and can still be steered. */
export const OPEN_LEAVER = ['pending', 'waiting', 'held'] as const;

/** Event statuses from which the workflow may (again) act on systems. */
export const STARTABLE = ['pending', 'waiting', 'held'] as const;

/** A target outcome after which repeating the activity must not call the system again. */
export const SETTLED_TARGET = ['verified', 'not_found', 'manual_action_required', 'dry_run', 'cancelled'] as const;

export type TargetOutcomeStatus = 'succeeded' | 'not_found' | 'manual_action_required' | 'dry_run';

/**
 * A mover or rehire dated ahead by an HR source (detect.ts's detectScheduledChange): the identity
 * takes the values in its `changes` only when it takes effect. Only such events are recorded with
 * an effective date after their creation; a leaver's date is an attribute of the identity, set
 * when it is recorded, so leavers are not among them.
 */
export function appliesOnItsDate(event: { kind: string; effectiveAt: Date; createdAt: Date }): boolean {
  return (event.kind === 'mover' || event.kind === 'rehire') && event.effectiveAt.getTime() > event.createdAt.getTime();
}

/** appliesOnItsDate as SQL over a lifecycle_event row named `alias`. */
export function appliesOnItsDateSql(alias: string): string {
  return `(${alias}.kind IN ('mover', 'rehire') AND ${alias}.effective_at > ${alias}.created_at)`;
}

/** The person's dated mover or rehire that has not taken effect yet (statuses OPEN_LEAVER). */
export interface OpenScheduled {
  kind: LifecycleKind;
  effectiveAt: Date;
  changes: Record<string, { from: unknown; to: unknown }>;
}

export interface LifecyclePlan {
  /** Cancel the person's open leaver, for this reason. */
  cancelOpenLeaver?: string;
  /** Move the open leaver to this date (ISO 8601) instead of recording a new event. */
  rescheduleOpenLeaver?: string;
  /** Cancel the person's open dated mover or rehire, for this reason. */
  cancelScheduled?: string;
  /** Move the open dated mover or rehire to this date (ISO 8601): the same change, sent with a new date. */
  rescheduleScheduled?: string;
  /** Record this change as a new event. */
  record?: DetectedChange;
}

/** The values a change leaves the person with, comparable as text (dates as ISO 8601). */
function valuesAfter(changes: OpenScheduled['changes']): string {
  return JSON.stringify(Object.keys(changes).sort().map((key) => [key, changes[key]!.to ?? null]));
}

/**
 * What a change means for the person's dated mover or rehire: a leaver that takes effect no later
 * than it, or a rehire before a dated rehire, makes it moot; the same change with another date
 * moves it; a different change of the same kind replaces it. Undefined: it stays as it is.
 */
function planForScheduled(change: DetectedChange, scheduled: OpenScheduled, now: Date): Pick<LifecyclePlan, 'cancelScheduled' | 'rescheduleScheduled'> | 'unchanged' | undefined {
  const at = change.effectiveAt ?? now;
  const on = (date: Date) => date.toISOString();
  if (change.kind === 'leaver' && at.getTime() <= scheduled.effectiveAt.getTime()) {
    return { cancelScheduled: `a leaver effective ${on(at)} comes before the ${scheduled.kind} dated ${on(scheduled.effectiveAt)}` };
  }
  if (change.kind === 'rehire' && !change.effectiveAt && scheduled.kind === 'rehire') {
    return { cancelScheduled: `rehired before the rehire dated ${on(scheduled.effectiveAt)} took effect` };
  }
  if (!change.effectiveAt || change.kind !== scheduled.kind) return undefined;
  if (valuesAfter(change.changes) !== valuesAfter(scheduled.changes)) return { cancelScheduled: `replaced by a ${change.kind} dated ${on(at)}` };
  return at.getTime() === scheduled.effectiveAt.getTime() ? 'unchanged' : { rescheduleScheduled: on(at) };
}

/**
 * A rehire, or a termination date taken back, before an open leaver acted: the leaver is off. A
 * new leaver while one is open only moves its date. An open dated mover or rehire is cancelled,
 * moved or kept as planForScheduled says. Anything else is a new event.
 */
export function planLifecycleChange(input: {
  change: DetectedChange | null;
  withdrawn: boolean;
  openLeaver: boolean;
  openScheduled?: OpenScheduled | null;
  /** The source says the person leaves, though their state shows no leaver (an HR leaver for someone inactive already). */
  leaving?: boolean;
  now: Date;
}): LifecyclePlan {
  const { change, withdrawn, openLeaver } = input;
  const plan: LifecyclePlan = {};
  if (openLeaver && (withdrawn || change?.kind === 'rehire')) {
    plan.cancelOpenLeaver = withdrawn ? 'termination date withdrawn' : 'rehired before the leaver took effect';
  }
  if (!change) {
    // A pre-hire withdrawn: the dated rehire of someone who has not come back yet is off.
    if (input.leaving && input.openScheduled?.kind === 'rehire') plan.cancelScheduled = `a leaver withdraws the rehire dated ${input.openScheduled.effectiveAt.toISOString()}`;
    return plan;
  }
  if (input.openScheduled) {
    const scheduled = planForScheduled(change, input.openScheduled, input.now);
    // The same dated change again (a redelivery): nothing to do.
    if (scheduled === 'unchanged') return plan;
    Object.assign(plan, scheduled);
    if (plan.rescheduleScheduled) return plan;
  }
  if (change.kind === 'leaver' && openLeaver) {
    plan.rescheduleOpenLeaver = (change.effectiveAt ?? input.now).toISOString();
    return plan;
  }
  plan.record = change;
  return plan;
}

/** A target still pending or failed when its workflow ends means a person has to look at it. */
export const UNFINISHED_TARGET = ['needs_attention', 'pending'] as const;

/** How an event ends (transitions.ts's finishEvent decides with this). */
export function finalEventStatus(targetStatuses: readonly string[]): 'completed' | 'needs_attention' {
  return targetStatuses.some((status) => (UNFINISHED_TARGET as readonly string[]).includes(status)) ? 'needs_attention' : 'completed';
}
