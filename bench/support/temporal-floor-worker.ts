// The bare Temporal fan-out floor's worker, in a child process of its own so its CPU time is its
// own: a Temporal worker with jml's worker settings (src/temporal/worker-sizing.ts, decision 020:
// the same cache size, workflow task slots and activity slots on this machine) running
// floor-workflow.ts, whose activities each make one HTTP call to the parent's stub.
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { installTemporalRuntime, temporalLogger } from '../../src/temporal/runtime.js';
import { currentMachine, sizeWorker, type WorkerSizing } from '../../src/temporal/worker-sizing.js';
import { serveParent } from './child.js';

export class StubCallFailed extends Error {
  override readonly name = 'StubCallFailed';
}

export function createFloorActivities(stubUrl: string) {
  return {
    async callStub(system: string): Promise<number> {
      const response = await fetch(`${stubUrl}/${encodeURIComponent(system)}`, { method: 'POST' });
      await response.arrayBuffer();
      if (!response.ok) throw new StubCallFailed(`the stub answered HTTP ${response.status}`);
      return response.status;
    },
    /** `count` calls for one system, at most 10 at a time (one vendor connection pool's worth). */
    async callStubMany(system: string, count: number): Promise<number> {
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(10, count) }, async () => {
          for (let index = next++; index < count; index = next++) {
            const response = await fetch(`${stubUrl}/${encodeURIComponent(system)}`, { method: 'POST' });
            await response.arrayBuffer();
            if (!response.ok) throw new StubCallFailed(`the stub answered HTTP ${response.status}`);
          }
        }),
      );
      return count;
    },
  };
}

export interface FloorWorkerInput {
  address: string;
  namespace: string;
  taskQueue: string;
  stubUrl: string;
  /** Activity-only task queues to poll besides `taskQueue` (one per system, as jml's workers). */
  systemQueues?: string[];
}

export type FloorWorkerApi = {
  /** Bundles the workflow and starts polling; returns the sizing it used. */
  start: (input: FloorWorkerInput) => Promise<WorkerSizing>;
};

let stop: (() => Promise<void>) | undefined;

const api: FloorWorkerApi = {
  async start(input) {
    installTemporalRuntime();
    const sizing = sizeWorker(currentMachine());
    const connection = await NativeConnection.connect({ address: input.address });
    const worker = await Worker.create({
      connection,
      namespace: input.namespace,
      taskQueue: input.taskQueue,
      workflowBundle: await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('./floor-workflow.ts', import.meta.url)), logger: temporalLogger }),
      activities: createFloorActivities(input.stubUrl),
      maxConcurrentActivityTaskExecutions: sizing.activitySlots,
      maxConcurrentLocalActivityExecutions: sizing.activitySlots,
      maxConcurrentWorkflowTaskExecutions: sizing.workflowTaskSlots,
      maxCachedWorkflows: sizing.cachedWorkflows,
    });
    const activityWorkers = await Promise.all(
      (input.systemQueues ?? []).map((taskQueue) =>
        Worker.create({
          connection,
          namespace: input.namespace,
          taskQueue,
          activities: createFloorActivities(input.stubUrl),
          maxConcurrentActivityTaskExecutions: sizing.activitySlots,
        }),
      ),
    );
    const workers = [worker, ...activityWorkers];
    const running = Promise.all(workers.map((each) => each.run()));
    stop = async () => {
      for (const each of workers) if (each.getState() === 'RUNNING') each.shutdown();
      await running;
      await connection.close();
    };
    return sizing;
  },
};

serveParent(api, async () => stop?.());
