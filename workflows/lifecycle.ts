// The lifecycle workflow: one event, fanned out to every target system in parallel. Each target
// succeeds or fails on its own; one failing system never blocks the others.
import { ActivityFailure, ApplicationFailure, TimeoutFailure, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../src/activities/index.js';
import { systemTaskQueue, type LifecycleTarget, type LifecycleWorkflowInput } from './contract.js';

type Activities = ReturnType<typeof createActivities>;

// Bookkeeping writes only to PostgreSQL: quick, and retried until the database answers.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export interface TargetOutcome extends LifecycleTarget {
  status: string;
}

function describeFailure(error: unknown): string {
  if (!(error instanceof ActivityFailure)) return String(error);
  const cause = error.cause;
  if (cause instanceof TimeoutFailure) return `gave up after the retry deadline (${cause.timeoutType}); last failure: ${cause.cause?.message ?? 'unknown'}`;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause?.message ?? error.message;
}

async function runTarget(input: LifecycleWorkflowInput, target: LifecycleTarget): Promise<TargetOutcome> {
  const downstream = proxyActivities<Activities>({
    // A task queue per system: its rate limit holds across every worker (docs/decisions/005).
    taskQueue: systemTaskQueue(input.queuePrefix, target.system),
    startToCloseTimeout: '1 minute',
    // The whole retry budget: past it the target needs a person's attention.
    scheduleToCloseTimeout: input.retryDeadlineMs,
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '10 minutes',
      nonRetryableErrorTypes: ['PermanentDownstreamError', 'SystemNotConfigured'],
    },
  });
  const request = { eventId: input.eventId, system: target.system, action: target.action };
  try {
    const status = await downstream.applyTargetAction(request);
    return { ...target, status };
  } catch (error) {
    await bookkeeping.markTargetNeedsAttention({ ...request, reason: describeFailure(error) });
    return { ...target, status: 'needs_attention' };
  }
}

export async function lifecycleWorkflow(input: LifecycleWorkflowInput): Promise<TargetOutcome[]> {
  await bookkeeping.markEventRunning({ eventId: input.eventId });
  const outcomes = await Promise.all(input.targets.map((target) => runTarget(input, target)));
  await bookkeeping.completeEvent({ eventId: input.eventId });
  return outcomes;
}
