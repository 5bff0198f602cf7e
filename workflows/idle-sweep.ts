// The idle-user sweep, started by a Temporal Schedule, on Rocket.Chat's own rate-limited task
// queue. Since 'idle-sweep-preview' it first previews who users.deactivateIdle would deactivate
// (one call that names nobody), waits for an operator when they are more than the guard allows,
// and records each person after the call (docs/decisions/042-idle-sweep-records-each-person.md).
import { condition, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createActivities } from '../src/activities/index.js';
import { systemTaskQueue, type IdleSweepInput } from './contract.js';
import { approveSignal, rejectSignal } from './signals.js';

type Activities = ReturnType<typeof createActivities>;

export async function idleSweepWorkflow(input: IdleSweepInput): Promise<{ count: number; dryRun: boolean; held?: boolean; rejectedBy?: string }> {
  const rocketchat = proxyActivities<Activities>({
    taskQueue: systemTaskQueue(input.queuePrefix, 'rocketchat'),
    // Two listings of the workspace and the call, under Rocket.Chat's rate limit.
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '2 minutes',
    scheduleToCloseTimeout: '2 hours',
    retry: { initialInterval: '10 seconds', maximumInterval: '5 minutes', nonRetryableErrorTypes: ['PermanentDownstreamError', 'SystemNotConfigured', 'IdleSweepNotPreviewable'] },
  });
  const request = { daysIdle: input.daysIdle, role: input.role };
  if (!patched('idle-sweep-preview')) return rocketchat.sweepIdleRocketChatUsers(request);

  let verdict: { approved: boolean; by: string } | undefined;
  setHandler(approveSignal, ({ by }) => {
    verdict ??= { approved: true, by };
  });
  setHandler(rejectSignal, ({ by }) => {
    verdict ??= { approved: false, by };
  });
  const { workflowId } = workflowInfo();
  const preview = await rocketchat.previewIdleSweep({ ...request, workflowId });
  if (preview.dryRun) return { count: 0, dryRun: true };
  if (preview.hold) {
    await condition(() => verdict !== undefined);
    if (!verdict!.approved) return { count: 0, dryRun: false, held: true, rejectedBy: verdict!.by };
  }
  const swept = await rocketchat.sweepIdleRocketChatUsers({ ...request, workflowId, candidates: preview.candidates, approvedBy: verdict?.by });
  return { count: swept.count, dryRun: false, held: preview.hold };
}
