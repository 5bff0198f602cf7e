// The bare Temporal fan-out floor's workflow (bench/support/temporal-floor.ts): what a leaver is
// to Temporal with none of jml around it, three downstream calls in parallel and nothing else. Like
// jml's workflows it imports its activities' type only (the worker bundles this file).
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createFloorActivities } from './temporal-floor-worker.js';

const { callStub } = proxyActivities<ReturnType<typeof createFloorActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

export async function floorLeaverWorkflow(systems: string[]): Promise<number> {
  const statuses = await Promise.all(systems.map((system) => callStub(system)));
  return statuses.length;
}

// Variants that add one of jml's extras at a time (bench/temporal-extras.ts), to find what a jml
// leaver's workflow costs the Temporal server beyond the bare one (decision 065, "Left").

/** The bare workflow behind one `patched()` marker, as jml's lifecycle workflow starts (decision 055). */
export async function floorLeaverWorkflowPatched(systems: string[]): Promise<number> {
  if (!patched('floor-marker')) throw new Error('a new execution always takes the patched path');
  return floorLeaverWorkflow(systems);
}

// jml's downstream activity options (workflows/lifecycle.ts downstreamActivities): a heartbeat
// timeout and a whole retry budget as schedule-to-close.
const { callStub: callStubWithTimeouts } = proxyActivities<ReturnType<typeof createFloorActivities>>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

/** The bare workflow with jml's activity timeouts. */
export async function floorLeaverWorkflowTimeouts(systems: string[]): Promise<number> {
  const statuses = await Promise.all(systems.map((system) => callStubWithTimeouts(system)));
  return statuses.length;
}

/** The bare workflow with each system's activity on that system's own task queue, as jml's (decision 005). */
export async function floorLeaverWorkflowQueues(systems: string[]): Promise<number> {
  const { taskQueue } = workflowInfo();
  const statuses = await Promise.all(
    systems.map((system) =>
      proxyActivities<ReturnType<typeof createFloorActivities>>({
        taskQueue: `${taskQueue}-${system}`,
        startToCloseTimeout: '1 minute',
        retry: { initialInterval: '1 second', maximumAttempts: 5 },
      }).callStub(system),
    ),
  );
  return statuses.length;
}

const { callStubMany } = proxyActivities<ReturnType<typeof createFloorActivities>>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/**
 * The mass lane's floor (decision 048): one workflow releases `leavers` leavers, each activity
 * acting on `perActivity` accounts of one system (still one HTTP call per account, as the vendors'
 * APIs are per account). What Temporal costs when it is paid per page instead of per leaver.
 */
export async function floorBatchWorkflow(input: { leavers: number; perActivity: number; systems: string[] }): Promise<number> {
  const pages: Promise<number>[] = [];
  for (let first = 0; first < input.leavers; first += input.perActivity) {
    const count = Math.min(input.perActivity, input.leavers - first);
    for (const system of input.systems) pages.push(callStubMany(system, count));
  }
  const calls = await Promise.all(pages);
  return calls.reduce((sum, count) => sum + count, 0);
}
