// The bare Temporal fan-out floor's workflow (bench/support/temporal-floor.ts): what a leaver is
// to Temporal with none of jml around it, three downstream calls in parallel and nothing else. Like
// jml's workflows it imports its activities' type only (the worker bundles this file).
import { proxyActivities } from '@temporalio/workflow';
import type { createFloorActivities } from './temporal-floor-worker.js';

const { callStub } = proxyActivities<ReturnType<typeof createFloorActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

export async function floorLeaverWorkflow(systems: string[]): Promise<number> {
  const statuses = await Promise.all(systems.map((system) => callStub(system)));
  return statuses.length;
}
