// What a change means for a person's lifecycle, decided without touching the database: which
// open leaver to cancel or move, which event to record, and how an event ends given its targets.
// src/lifecycle/transitions.ts carries the plan out; keeping the decision pure lets it be tested
// case by case (test/lifecycle/plan.test.ts).
import type { DetectedChange } from './detect.js';

/** Leaver statuses in which the change has not been acted on yet and can still be steered. */
export const OPEN_LEAVER = ['pending', 'waiting', 'held'] as const;

/** Event statuses from which the workflow may (again) act on systems. */
export const STARTABLE = ['pending', 'waiting', 'held'] as const;

/** A target outcome after which repeating the activity must not call the system again. */
export const SETTLED_TARGET = ['verified', 'not_found', 'manual_action_required', 'dry_run', 'cancelled'] as const;

export type TargetOutcomeStatus = 'succeeded' | 'not_found' | 'manual_action_required' | 'dry_run';

export interface LifecyclePlan {
  /** Cancel the person's open leaver, for this reason. */
  cancelOpenLeaver?: string;
  /** Move the open leaver to this date (ISO 8601) instead of recording a new event. */
  rescheduleOpenLeaver?: string;
  /** Record this change as a new event. */
  record?: DetectedChange;
}

/**
 * A rehire, or a termination date taken back, before an open leaver acted: the leaver is off. A
 * new leaver while one is open only moves its date. Anything else is a new event.
 */
export function planLifecycleChange(input: { change: DetectedChange | null; withdrawn: boolean; openLeaver: boolean; now: Date }): LifecyclePlan {
  const { change, withdrawn, openLeaver } = input;
  const plan: LifecyclePlan = {};
  if (openLeaver && (withdrawn || change?.kind === 'rehire')) {
    plan.cancelOpenLeaver = withdrawn ? 'termination date withdrawn' : 'rehired before the leaver took effect';
  }
  if (!change) return plan;
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
