// The workers: one for workflows and bookkeeping on the main task queue, and one per downstream
// system on that system's own queue, where the rate limit is enforced by the Temporal server
// across every worker that polls it (docs/decisions/005-rate-limits.md).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../activities/index.js';
import type { SystemName } from '../connectors/types.js';
import { systemTaskQueue } from '../../workflows/contract.js';
import type { TemporalConnectionOptions } from './connection.js';
import { installTemporalRuntime, temporalLogger } from './runtime.js';
import { currentMachine, sizeWorker } from './worker-sizing.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const workflowsPath = path.resolve(here, '..', '..', 'workflows', 'index.ts');
/** What `npm run build` writes beside the compiled code (dist/src/temporal -> dist/). */
export const PREBUILT_WORKFLOW_BUNDLE = path.resolve(here, '..', '..', 'workflow-bundle.js');

/** The built image loads the bundle made at build time; a checkout bundles the sources (seconds). */
async function workflowBundleFor(given: WorkflowBundleWithSourceMap | undefined): Promise<WorkflowBundleOption> {
  if (given) return given;
  if (existsSync(PREBUILT_WORKFLOW_BUNDLE)) return { codePath: PREBUILT_WORKFLOW_BUNDLE };
  return bundleWorkflows();
}

export interface WorkerOptions {
  connection: TemporalConnectionOptions;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  systems: readonly SystemName[];
  /** Activities per second allowed on each system's queue, across all workers. */
  rateLimits: Partial<Record<SystemName, number>>;
  /**
   * Activities run at once per queue, and workflows kept in memory between tasks: sized from the
   * machine (worker-sizing.ts) unless set. Each activity needs a database connection for a moment.
   */
  activitySlots?: number;
  cachedWorkflows?: number;
  /** A prebuilt bundle (tests build it once); otherwise the workflows are bundled here. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /**
   * On shutdown, how long activities in flight may run on before they are cancelled (Temporal's
   * default is 0: cancelled at once). A cancelled attempt is retried by another worker.
   */
  shutdownGraceMs?: number;
}

export interface RunningWorkers {
  shutdown(): Promise<void>;
}

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  installTemporalRuntime();
  return bundleWorkflowCode({ workflowsPath, logger: temporalLogger });
}

export async function startWorkers(options: WorkerOptions): Promise<RunningWorkers> {
  installTemporalRuntime();
  const connection = await NativeConnection.connect(options.connection);
  // Downstream work runs on the systems' queues; everything else (bookkeeping) on the main one.
  const { applyTargetAction, applyTargetActions, previewIdleSweep, sweepIdleRocketChatUsers, reconcileAccounts, ...bookkeeping } = options.activities;
  const sizing = sizeWorker(currentMachine(), { cachedWorkflows: options.cachedWorkflows, activitySlots: options.activitySlots });
  const workers = [
    await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      workflowBundle: await workflowBundleFor(options.workflowBundle),
      activities: bookkeeping,
      maxConcurrentActivityTaskExecutions: sizing.activitySlots,
      shutdownGraceTime: options.shutdownGraceMs ?? 0,
      // Bookkeeping runs as local activities too (decision 015): the same bound on the pool.
      maxConcurrentLocalActivityExecutions: sizing.activitySlots,
      maxConcurrentWorkflowTaskExecutions: sizing.workflowTaskSlots,
      maxCachedWorkflows: sizing.cachedWorkflows,
    }),
  ];
  for (const system of options.systems) {
    workers.push(
      await Worker.create({
        connection,
        namespace: options.namespace,
        taskQueue: systemTaskQueue(options.taskQueue, system),
        activities:
          system === 'rocketchat'
            ? { applyTargetAction, applyTargetActions, previewIdleSweep, sweepIdleRocketChatUsers, reconcileAccounts }
            : { applyTargetAction, applyTargetActions, reconcileAccounts },
        maxTaskQueueActivitiesPerSecond: options.rateLimits[system],
        maxConcurrentActivityTaskExecutions: sizing.activitySlots,
        shutdownGraceTime: options.shutdownGraceMs ?? 0,
      }),
    );
  }
  const running = workers.map((worker) => worker.run());
  return {
    async shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(running);
      await connection.close();
    },
  };
}
