// Reconciliation, started by a Temporal Schedule (src/temporal/schedules.ts) or an operator: each
// system's listing runs as one activity on that system's own task queue, heartbeating page by
// page, so a worker that dies mid-listing is noticed and the listing retried.
import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../src/activities/index.js';
import { systemTaskQueue, type ReconcileInput, type ReconcileOutcome } from './contract.js';

type Activities = ReturnType<typeof createActivities>;

export async function reconcileWorkflow(input: ReconcileInput): Promise<ReconcileOutcome[]> {
  const outcomes: ReconcileOutcome[] = [];
  // One system after another: the listings share nothing, but each is long and vendor-limited.
  for (const system of input.systems) {
    const listing = proxyActivities<Activities>({
      taskQueue: systemTaskQueue(input.queuePrefix, system),
      // 100,000 accounts are 1,000 pages: minutes, or longer under a vendor's rate limit.
      startToCloseTimeout: '2 hours',
      heartbeatTimeout: '2 minutes',
      retry: { initialInterval: '30 seconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes: ['SystemNotConfigured'] },
    });
    outcomes.push(await listing.reconcileAccounts({ system, dryRun: input.dryRun, trigger: input.trigger }));
  }
  return outcomes;
}
