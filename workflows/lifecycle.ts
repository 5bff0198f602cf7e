// The lifecycle workflow: one event, fanned out to every target system in parallel. Each target
// succeeds or fails on its own; one failing system never blocks the others.
//
// Since 'guard-and-effective-dates' a leaver first asks the mass-deprovision guard and may be
// held until an operator approves or rejects it, and any event may wait durably for the date it
// takes effect, during which it can be rescheduled or cancelled. Histories recorded before that
// change replay through the old path (test/workflows/replay.test.ts).
//
// Since 'local-bookkeeping' the bookkeeping steps run as local activities: they only write jml's
// own tables and take milliseconds, and as ordinary activities each cost the Temporal server a
// task-queue round trip and a workflow task (docs/decisions/015-local-bookkeeping.md).
//
// Since 'lean-lifecycle' an event that acts at once starts with one bookkeeping step instead of
// two (docs/decisions/018-lifecycle-transitions.md).
//
// Since 'bookkeeping-in-target-actions' such an event has no bookkeeping step at all when nothing
// is in the way: its target actions begin and end it (docs/decisions/055-bookkeeping-in-target-actions.md).
// That patch is checked first and implies the three before it, so a new execution records one.
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
} from '@temporalio/workflow';
import type { createActivities } from '../src/activities/index.js';
import type { SystemName } from '../src/connectors/types.js';
import { systemTaskQueue, TARGET_ACTION_HEARTBEAT_TIMEOUT_MS, type LifecyclePhase, type LifecycleTarget, type LifecycleWorkflowInput } from './contract.js';
import { approveSignal, cancelSignal, phaseQuery, rejectSignal, rescheduleSignal } from './signals.js';

type Activities = ReturnType<typeof createActivities>;

// Bookkeeping writes only to PostgreSQL: quick, and retried until the database answers.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// The same steps, run by the worker that runs the workflow and recorded in its history as markers.
const localBookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
type Bookkeeping = typeof bookkeeping;

// Waiting for an earlier event of the same person can take as long as that event acts.
const ordering = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export interface TargetOutcome extends LifecycleTarget {
  status: string;
}

export function describeFailure(error: unknown): string {
  if (!(error instanceof ActivityFailure)) return String(error);
  const cause = error.cause;
  if (cause instanceof TimeoutFailure) return `gave up after the retry deadline (${cause.timeoutType}); last failure: ${cause.cause?.message ?? 'unknown'}`;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause?.message ?? error.message;
}

/**
 * The activities that act on one system, on its queue, within the event's retry budget (shared
 * with workflows/mass-release.ts); `system` null: on the workflow's own queue, for the systems
 * without a rate limit acted on together (decision 067).
 */
export function downstreamActivities(
  input: Pick<LifecycleWorkflowInput, 'queuePrefix' | 'retryDeadlineMs' | 'retryInitialIntervalMs' | 'retryMaximumIntervalMs'>,
  system: SystemName | null,
  startToCloseTimeout: string,
) {
  return proxyActivities<Activities>({
    // A task queue per system: its rate limit holds across every worker (docs/decisions/005).
    ...(system === null ? {} : { taskQueue: systemTaskQueue(input.queuePrefix, system) }),
    startToCloseTimeout,
    heartbeatTimeout: TARGET_ACTION_HEARTBEAT_TIMEOUT_MS,
    // The whole retry budget: past it the target needs a person's attention.
    scheduleToCloseTimeout: input.retryDeadlineMs,
    retry: {
      initialInterval: input.retryInitialIntervalMs ?? 2000,
      backoffCoefficient: 2,
      maximumInterval: input.retryMaximumIntervalMs ?? 10 * 60 * 1000,
      nonRetryableErrorTypes: ['PermanentDownstreamError', 'SystemNotConfigured'],
    },
  });
}

async function runTarget(input: LifecycleWorkflowInput, target: LifecycleTarget, books: Bookkeeping): Promise<TargetOutcome> {
  const downstream = downstreamActivities(input, target.system, '1 minute');
  const request = { eventId: input.eventId, system: target.system, action: target.action, generation: input.generation ?? 0 };
  try {
    const status = await downstream.applyTargetAction(request);
    return { ...target, status };
  } catch (error) {
    await books.markTargetNeedsAttention({ ...request, reason: describeFailure(error) });
    return { ...target, status: 'needs_attention' };
  }
}

/** runTarget on the lean path (decision 055): the target action begins the event if first, ends it if last. */
async function runLeanTarget(input: LifecycleWorkflowInput, target: LifecycleTarget, books: Bookkeeping): Promise<{ status: string; ended: boolean }> {
  const downstream = downstreamActivities(input, target.system, '1 minute');
  const request = { eventId: input.eventId, system: target.system, action: target.action, generation: input.generation ?? 0 };
  try {
    return await downstream.applyLeanTargetAction(request);
  } catch (error) {
    await books.markTargetNeedsAttention({ ...request, reason: describeFailure(error) });
    return { status: 'needs_attention', ended: false };
  }
}

/**
 * The lean path's target actions: since 'unthrottled-targets-together' the targets in systems
 * without a rate limit share one activity on the workflow's queue (decision 067), the others run
 * one each on their system's queue. Results in the order of `targets`.
 */
async function runLeanTargets(input: LifecycleWorkflowInput, targets: LifecycleTarget[], books: Bookkeeping, together: boolean): Promise<{ status: string; ended: boolean }[]> {
  const shared = together ? targets.filter((target) => input.unthrottledSystems?.includes(target.system)) : [];
  if (shared.length < 2) return Promise.all(targets.map((target) => runLeanTarget(input, target, books)));
  const alone = targets.filter((target) => !shared.includes(target));
  const [sharedResults, aloneResults] = await Promise.all([runTogether(input, shared, books), Promise.all(alone.map((target) => runLeanTarget(input, target, books)))]);
  return targets.map((target) => (shared.includes(target) ? sharedResults[shared.indexOf(target)]! : aloneResults[alone.indexOf(target)]!));
}

/** Targets acted on in one activity (decision 067); once its retries are spent, each one not settled needs attention. */
async function runTogether(input: LifecycleWorkflowInput, targets: LifecycleTarget[], books: Bookkeeping): Promise<{ status: string; ended: boolean }[]> {
  const downstream = downstreamActivities(input, null, '1 minute');
  const generation = input.generation ?? 0;
  try {
    return await downstream.applyLeanTargetsTogether({ eventId: input.eventId, generation, targets: targets.map(({ system, action }) => ({ system, action })) });
  } catch (error) {
    const reason = describeFailure(error);
    const statuses: string[] = [];
    for (const target of targets) statuses.push(await books.markTargetNeedsAttention({ eventId: input.eventId, system: target.system, action: target.action, reason }));
    return statuses.map((status) => ({ status, ended: false }));
  }
}

/** An earlier event of the same person is in the way: wait for it, then start (false: cancelled meanwhile). */
async function waitThenBegin(eventId: string, books: Bookkeeping): Promise<boolean> {
  await ordering.awaitEarlierEvents({ eventId });
  return books.markEventRunning({ eventId });
}

/** The first lifecycle workflow's path, kept for executions that started before the patch. */
async function runWithoutGuardOrDates(input: LifecycleWorkflowInput): Promise<TargetOutcome[]> {
  await bookkeeping.markEventRunning({ eventId: input.eventId });
  const outcomes = await Promise.all(input.targets.map((target) => runTarget(input, target, bookkeeping)));
  await bookkeeping.completeEvent({ eventId: input.eventId });
  return outcomes;
}

export async function lifecycleWorkflow(input: LifecycleWorkflowInput): Promise<TargetOutcome[]> {
  // Checked first: a workflow started by this code has every earlier patch, and records one patch
  // marker instead of four (each marker comes with an upsert of the TemporalChangeVersion search
  // attribute: two history events and a visibility write per patch; decision 055).
  const together = patched('unthrottled-targets-together');
  const current = together || patched('bookkeeping-in-target-actions');
  if (!current && !patched('guard-and-effective-dates')) return runWithoutGuardOrDates(input);
  const local = current || patched('local-bookkeeping');
  const books: Bookkeeping = local ? localBookkeeping : bookkeeping;

  let phase: LifecyclePhase = 'starting';
  let effectiveAt = input.effectiveAt;
  let rescheduled = false;
  let verdict: { approved: boolean; by: string; reason?: string } | undefined;
  let cancellation: { by: string; reason: string } | undefined;
  setHandler(phaseQuery, () => ({ phase, effectiveAt }));
  setHandler(approveSignal, ({ by }) => {
    verdict ??= { approved: true, by };
  });
  setHandler(rejectSignal, ({ by, reason }) => {
    verdict ??= { approved: false, by, reason };
  });
  setHandler(rescheduleSignal, (signal) => {
    effectiveAt = signal.effectiveAt;
    rescheduled = true;
  });
  setHandler(cancelSignal, (signal) => {
    cancellation ??= signal;
  });

  /** Settles the targets not yet acted on as cancelled, and the event with them. */
  const cancel = async (notRun: LifecycleTarget[], by: string, reason: string): Promise<TargetOutcome[]> => {
    phase = 'cancelled';
    await books.cancelEvent({ eventId: input.eventId, by, reason });
    return notRun.map((target) => ({ ...target, status: 'cancelled' }));
  };

  // Since 'lean-lifecycle' an event that acts at once (no guard, no date) starts in one step: the
  // look for earlier events and the move to running are one statement (decision 018).
  if (local && !input.guard && !input.effectiveAt && (current || patched('lean-lifecycle'))) {
    // Since 'bookkeeping-in-target-actions' the target actions begin and end the event: the
    // history is the three actions and nothing else, unless one must wait or fails (decision 055).
    if (current) {
      phase = 'acting';
      let results = await runLeanTargets(input, input.targets, books, together);
      if (results.some((result) => result.status === 'wait')) {
        // None of them acted, or the event is running and cannot be cancelled any more.
        const begun = await waitThenBegin(input.eventId, books);
        const waited = input.targets.filter((_, index) => results[index]!.status === 'wait');
        const again = begun ? await runLeanTargets(input, waited, books, together) : waited.map(() => ({ status: 'cancelled', ended: false }));
        let next = 0;
        results = results.map((result) => (result.status === 'wait' ? again[next++]! : result));
      }
      const outcomes = input.targets.map((target, index) => ({ ...target, status: results[index]!.status }));
      // Cancelled before it began (a rehire): cancelLocked settled the event and its targets.
      if (outcomes.some((outcome) => outcome.status === 'cancelled')) {
        phase = 'cancelled';
        return outcomes;
      }
      // A target that needed attention, or an end none of them saw: the event's end as before.
      if (!results.some((result) => result.ended)) await books.completeEvent({ eventId: input.eventId });
      phase = 'done';
      return outcomes;
    }
    const begun = await books.beginIfFirst({ eventId: input.eventId });
    if (begun === 'cancelled' || (begun === 'wait' && !(await waitThenBegin(input.eventId, books)))) {
      phase = 'cancelled';
      return input.targets.map((target) => ({ ...target, status: 'cancelled' }));
    }
    phase = 'acting';
    const outcomes = await Promise.all(input.targets.map((target) => runTarget(input, target, books)));
    await books.completeEvent({ eventId: input.eventId });
    phase = 'done';
    return outcomes;
  }

  // Most events find nothing ahead of them: a quick look spares the long-running wait.
  if (!local || (await books.earlierEventsOpen({ eventId: input.eventId }))) await ordering.awaitEarlierEvents({ eventId: input.eventId });

  // Mass-deprovision guard: a leaver in a burst holds before touching anything.
  if (input.guard && (await books.checkDeprovisionGuard({ eventId: input.eventId })) === 'hold') {
    phase = 'held';
    await condition(() => verdict !== undefined || cancellation !== undefined);
    if (cancellation) return cancel(input.targets, cancellation.by, cancellation.reason);
    if (!verdict!.approved) return cancel(input.targets, verdict!.by, `rejected by ${verdict!.by}${verdict!.reason ? `: ${verdict!.reason}` : ''}`);
    await books.recordApproval({ eventId: input.eventId, by: verdict!.by });
  }

  // Some systems are acted on at once, the rest when the change takes effect.
  const immediate = input.targets.filter((target) => input.immediateSystems?.includes(target.system));
  const later = input.targets.filter((target) => !immediate.includes(target));
  // The database has the last word: an event cancelled there (by a rehire) does not act.
  const outcomes: TargetOutcome[] = [];
  if (immediate.length > 0) {
    if (!(await books.markEventRunning({ eventId: input.eventId }))) {
      phase = 'cancelled';
      return input.targets.map((target) => ({ ...target, status: 'cancelled' }));
    }
    phase = 'acting';
    outcomes.push(...(await Promise.all(immediate.map((target) => runTarget(input, target, books)))));
  }

  // Wait durably for the effective date; a changed date restarts the wait, a cancellation ends it.
  for (;;) {
    const remaining = effectiveAt ? Date.parse(effectiveAt) - Date.now() : 0;
    if (cancellation || remaining <= 0) break;
    if (phase !== 'waiting') {
      phase = 'waiting';
      await books.markEventWaiting({ eventId: input.eventId, until: effectiveAt! });
    }
    rescheduled = false;
    await condition(() => rescheduled || cancellation !== undefined, remaining);
  }
  if (cancellation) return [...outcomes, ...(await cancel(later, cancellation.by, cancellation.reason))];

  if (!(await books.markEventRunning({ eventId: input.eventId }))) {
    phase = 'cancelled';
    return [...outcomes, ...later.map((target) => ({ ...target, status: 'cancelled' }))];
  }
  phase = 'acting';
  outcomes.push(...(await Promise.all(later.map((target) => runTarget(input, target, books)))));
  await books.completeEvent({ eventId: input.eventId });
  phase = 'done';
  return outcomes;
}
