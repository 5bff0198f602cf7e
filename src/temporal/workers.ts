// The workers: one for workflows and bookkeeping on the main task queue, and one per downstream
// system on that system's own queue, where the rate limit is enforced by the Temporal server
// across every worker that polls it (docs/decisions/005-rate-limits.md).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NativeConnection, Worker, type WorkflowBundleOption, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
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

export class WorkflowBundlingFailed extends Error {
  override readonly name = 'WorkflowBundlingFailed';
}

/**
 * The SDK's bundler (webpack), run in a process of its own that prints the bundle as JSON on
 * stdout and its warnings on stderr. The same bundling in the worker's process left it about
 * 110 MiB larger for good (RSS 90 -> 203 MiB, measured with the bundler alone; a thread of its
 * own still kept 61 MiB): a worker started from a checkout began a burst 100 MiB above one that
 * loads the prebuilt bundle (docs/decisions/020-worker-sizing.md).
 */
const BUNDLER = `
const [sdk, workflowsPath] = process.argv.slice(1);
const { bundleWorkflowCode } = await import(sdk);
const say = (level) => (message, meta) => process.stderr.write(level + ': ' + message + (meta ? ' ' + JSON.stringify(meta) : '') + '\\n');
const quiet = () => {};
const logger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: say('WARN'), error: say('ERROR') };
const bundle = await bundleWorkflowCode({ workflowsPath, logger });
process.stdout.write(JSON.stringify({ code: bundle.code, sourceMap: bundle.sourceMap }));
`;

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  installTemporalRuntime();
  const sdk = pathToFileURL(createRequire(import.meta.url).resolve('@temporalio/worker')).href;
  const bundler = spawn(process.execPath, ['--input-type=module', '--eval', BUNDLER, sdk, workflowsPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  bundler.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  bundler.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  return new Promise((resolve, reject) => {
    bundler.once('error', (error) => reject(new WorkflowBundlingFailed(`could not start the workflow bundler: ${error.message}`)));
    bundler.once('close', (code) => {
      const messages = Buffer.concat(err).toString('utf8').trim();
      if (code !== 0) {
        reject(new WorkflowBundlingFailed(`bundling ${workflowsPath} failed (exit ${code}): ${messages}`));
        return;
      }
      for (const line of messages.split('\n').filter(Boolean)) temporalLogger.warn(line);
      resolve(JSON.parse(Buffer.concat(out).toString('utf8')) as WorkflowBundleWithSourceMap);
    });
  });
}

export async function startWorkers(options: WorkerOptions): Promise<RunningWorkers> {
  installTemporalRuntime();
  const connection = await NativeConnection.connect(options.connection);
  // Downstream work runs on the systems' queues; everything else (bookkeeping) on the main one.
  const { applyTargetAction, applyLeanTargetAction, applyTargetActions, previewIdleSweep, sweepIdleRocketChatUsers, reconcileAccounts, ...bookkeeping } = options.activities;
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
            ? { applyTargetAction, applyLeanTargetAction, applyTargetActions, previewIdleSweep, sweepIdleRocketChatUsers, reconcileAccounts }
            : { applyTargetAction, applyLeanTargetAction, applyTargetActions, reconcileAccounts },
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
