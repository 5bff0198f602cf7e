// The bare Temporal fan-out floor (issue 13): one workflow per leaver running three activities in
// parallel, each a call to an HTTP stub that answers after `latencyMs`, on the Temporal server the
// benchmark already uses, with jml's worker settings. Nothing of jml runs: this is as fast as the
// stack can release leavers on this machine in this minute, the figure jml's release is divided by.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { startChild } from './child.js';
import { busyCpuMs, machineTicks } from './machine.js';
import type { FloorWorkerApi } from './temporal-floor-worker.js';

export interface TemporalFloorOptions {
  address: string;
  namespace?: string;
  workflows: number;
  /** The stub's answer time, as the simulators' added latency. */
  latencyMs: number;
  /** Workflows started at once; the rest wait for one to be started (starting is not the floor). */
  startConcurrency?: number;
  /**
   * Also measure the mass lane's floor (decision 048): the same number of leavers released by one
   * workflow whose activities each act on this many accounts of one system.
   */
  batchPerActivity?: number;
  /** The workflow type to run per leaver (bench/support/floor-workflow.ts); the bare one by default. */
  workflowType?: string;
  /** Also poll a task queue per system (`<queue>-<system>`), as jml's workers do (decision 005). */
  perSystemQueues?: boolean;
  /** The Temporal server's CPU time so far, in µs, where the caller can read it (NaN otherwise). */
  temporalCpuMicros?: () => number;
}

export interface BatchFloor {
  leavers: number;
  perActivity: number;
  wallMs: number;
  perSecond: number;
  workerCpuMsPerLeaver: number;
}

export interface TemporalFloor {
  workflows: number;
  wallMs: number;
  perSecond: number;
  /** The worker process's CPU time per workflow (user + system), in ms. */
  workerCpuMsPerWorkflow: number;
  /** The worker's CPU in % of one core over the run. */
  workerCpuPercent: number;
  /** The Temporal server's CPU time per workflow, in ms (NaN without `temporalCpuMicros`). */
  temporalCpuMsPerWorkflow: number;
  /** Every core's busy time per workflow, in ms: the floor's whole cost to this machine (its stub included). */
  machineCpuMsPerWorkflow: number;
  batch?: BatchFloor;
  describe(): string;
  describeBatch(): string | undefined;
}

const SYSTEMS = ['rocketchat', 'mendix', 'userapi'];

/** A vendor API reduced to its answer time: 200 after `latencyMs`, for every request. */
async function startStub(latencyMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.once('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), latencyMs));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export class TemporalFloorFailed extends Error {
  override readonly name = 'TemporalFloorFailed';
}

/**
 * result() calls waiting at once. Each is a GetWorkflowExecutionHistory long poll, which the
 * frontend admits up to `frontend.namespaceCount` at once per method and namespace (1,200 by
 * default, Temporal server 1.29's dynamicconfig/constants.go, unchanged by `temporal server
 * start-dev`) and refuses beyond with RESOURCE_EXHAUSTED "namespace concurrent poller limit
 * exceeded"; the client retries that for about 40 s, then fails the call.
 */
const RESULT_WAITERS = 16;

/** Runs `task` for 0..count-1, `lanes` at a time, and answers once every one has settled. */
async function inLanes(lanes: number, count: number, task: (index: number) => Promise<unknown>): Promise<PromiseSettledResult<unknown>[]> {
  const outcomes: PromiseSettledResult<unknown>[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, count) }, async () => {
      for (let index = next++; index < count; index = next++) {
        try {
          outcomes[index] = { status: 'fulfilled', value: await task(index) };
        } catch (reason) {
          outcomes[index] = { status: 'rejected', reason };
        }
      }
    }),
  );
  return outcomes;
}

/** Throws the first rejection of `settled`, as the cause of one error that counts them all. */
function throwFirstFailure(what: string, settled: PromiseSettledResult<unknown>[]): void {
  const failures = settled.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failures.length === 0) return;
  const first = failures[0]!.reason as Error;
  throw new TemporalFloorFailed(`${what}: ${failures.length} failed; the first: ${first.name}: ${first.message}`, { cause: first });
}

export async function measureTemporalFloor(options: TemporalFloorOptions): Promise<TemporalFloor> {
  const namespace = options.namespace ?? 'default';
  const taskQueue = `floor-${randomBytes(4).toString('hex')}`;
  const stub = await startStub(options.latencyMs);
  const worker = startChild<FloorWorkerApi>(fileURLToPath(new URL('./temporal-floor-worker.ts', import.meta.url)), { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const connection = await Connection.connect({ address: options.address });
  try {
    await worker.call('start', { address: options.address, namespace, taskQueue, stubUrl: stub.url, systemQueues: options.perSystemQueues ? SYSTEMS.map((system) => `${taskQueue}-${system}`) : [] });
    const client = new Client({ connection, namespace });
    const run = async (count: number, prefix: string) => {
      // Every start and every result settles before this returns, so that the connection is
      // closed (finally, below) only once nothing uses it any more: a failure used to leave the
      // other calls running, whose retries then failed with "Channel has been shut down" and hid it.
      const handles: WorkflowHandle[] = [];
      const starts = await inLanes(options.startConcurrency ?? 16, count, async (index) => {
        handles[index] = await client.workflow.start(options.workflowType ?? 'floorLeaverWorkflow', { taskQueue, workflowId: `${prefix}-${index}`, args: [SYSTEMS] });
      });
      throwFirstFailure(`starting ${count} floor workflows`, starts);
      // Waited for in start order by a few long polls, not one per workflow: the server refuses
      // more than 1,200 at once (RESULT_WAITERS), which failed the floor whenever more than 1,200
      // workflows were still running for 40 s. The last result still answers when the last
      // workflow completes; the earlier ones have mostly completed by the time their turn comes.
      throwFirstFailure(`running ${count} floor workflows`, await inLanes(RESULT_WAITERS, count, (index) => handles[index]!.result()));
    };
    // Warm-up, not counted: the worker's first workflow tasks load the bundle into its isolate.
    await run(Math.min(20, options.workflows), `${taskQueue}-warm`);
    const temporalCpu = options.temporalCpuMicros ?? (() => Number.NaN);
    const cpuBefore = (await worker.cpu()).micros;
    const temporalBefore = temporalCpu();
    const ticksBefore = machineTicks();
    const started = performance.now();
    await run(options.workflows, taskQueue);
    const wallMs = performance.now() - started;
    const machineMs = busyCpuMs(ticksBefore, machineTicks());
    const temporalMs = (temporalCpu() - temporalBefore) / 1000;
    const cpuMs = ((await worker.cpu()).micros - cpuBefore) / 1000;
    const result = {
      workflows: options.workflows,
      wallMs,
      perSecond: options.workflows / (wallMs / 1000),
      workerCpuMsPerWorkflow: cpuMs / options.workflows,
      workerCpuPercent: (100 * cpuMs) / wallMs,
      temporalCpuMsPerWorkflow: temporalMs / options.workflows,
      machineCpuMsPerWorkflow: machineMs / options.workflows,
    };
    let batch: BatchFloor | undefined;
    if (options.batchPerActivity) {
      const perActivity = options.batchPerActivity;
      const batchCpuBefore = (await worker.cpu()).micros;
      const batchStarted = performance.now();
      await client.workflow.execute('floorBatchWorkflow', { taskQueue, workflowId: `${taskQueue}-batch`, args: [{ leavers: options.workflows, perActivity, systems: SYSTEMS }] });
      const batchWallMs = performance.now() - batchStarted;
      const batchCpuMs = ((await worker.cpu()).micros - batchCpuBefore) / 1000;
      batch = { leavers: options.workflows, perActivity, wallMs: batchWallMs, perSecond: options.workflows / (batchWallMs / 1000), workerCpuMsPerLeaver: batchCpuMs / options.workflows };
    }
    return {
      ...result,
      batch,
      describeBatch: () =>
        batch &&
        `one workflow releasing ${batch.leavers} leavers, each activity acting on ${batch.perActivity} accounts of one system (10 calls at a time): ` +
        `${batch.perSecond.toFixed(1)} leavers/s = ${(batch.perSecond / result.perSecond).toFixed(2)}× the per-leaver floor, worker ${batch.workerCpuMsPerLeaver.toFixed(2)} ms CPU per leaver`,
      describe: () =>
        `bare Temporal fan-out (${result.workflows} workflows, 3 parallel activities each calling a ${options.latencyMs} ms HTTP stub, jml's worker settings): ` +
        `${result.perSecond.toFixed(1)} wf/s, worker ${result.workerCpuMsPerWorkflow.toFixed(1)} ms CPU per workflow (${result.workerCpuPercent.toFixed(0)}% of a core)`,
    };
  } finally {
    await connection.close();
    await worker.stop();
    await stub.close();
  }
}
