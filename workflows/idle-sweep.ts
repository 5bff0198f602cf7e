// The idle-user sweep, started by a Temporal Schedule: one call to Rocket.Chat, retried like any
// downstream call, on Rocket.Chat's own rate-limited task queue.
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../src/activities/index.js';
import { systemTaskQueue, type IdleSweepInput } from './contract.js';

type Activities = ReturnType<typeof createActivities>;

export async function idleSweepWorkflow(input: IdleSweepInput): Promise<{ count: number; dryRun: boolean }> {
  const rocketchat = proxyActivities<Activities>({
    taskQueue: systemTaskQueue(input.queuePrefix, 'rocketchat'),
    startToCloseTimeout: '2 minutes',
    scheduleToCloseTimeout: '1 hour',
    retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', nonRetryableErrorTypes: ['PermanentDownstreamError', 'SystemNotConfigured'] },
  });
  return rocketchat.sweepIdleRocketChatUsers({ daysIdle: input.daysIdle, role: input.role });
}
