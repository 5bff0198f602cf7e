// How big the worker is, from the machine it runs on rather than from the SDK's defaults. The
// SDK's workflow cache follows the V8 heap limit (about 2,300 workflows with Node's 4 GiB heap),
// which in a 10,000-leaver burst kept the worker at 1.26 GiB RSS on a 2-core machine where the
// work in flight is a few hundred workflows at most (docs/decisions/020-worker-sizing.md).
import os from 'node:os';

export interface Machine {
  cpus: number;
  /** Memory this process may use: the machine's, or its container's limit when lower. */
  memoryBytes: number;
}

export interface WorkerSizing {
  /** Workflows kept in memory between tasks; the rest replay their history on their next task. */
  cachedWorkflows: number;
  /** Workflow tasks run at once. */
  workflowTaskSlots: number;
  /** Activities (and local activities) run at once on each task queue. */
  activitySlots: number;
}

/** The share of memory the workflow cache may take. */
export const CACHE_MEMORY_SHARE = 0.05;
/** What one cached lifecycle workflow costs, measured as RSS growth per cached leaver (decision 020), rounded up. */
export const CACHED_WORKFLOW_BYTES = 0.5 * 1024 * 1024;
/** Beyond this the cache only holds workflows that wait (held, dated), which need no memory to wait. */
export const MAX_CACHED_WORKFLOWS = 512;
export const WORKFLOW_TASK_SLOTS_PER_CPU = 8;
export const ACTIVITY_SLOTS_PER_CPU = 10;

export function currentMachine(): Machine {
  // constrainedMemory() is the cgroup limit (0 or a huge number when there is none).
  const limit = process.constrainedMemory?.() ?? 0;
  const total = os.totalmem();
  return { cpus: os.availableParallelism(), memoryBytes: limit > 0 && limit < total ? limit : total };
}

/** The sizing for `machine`; an operator's explicit setting wins over the computed one. */
export function sizeWorker(machine: Machine, overrides: { cachedWorkflows?: number; activitySlots?: number } = {}): WorkerSizing {
  const cpus = Math.max(1, Math.floor(machine.cpus));
  const byMemory = Math.floor((machine.memoryBytes * CACHE_MEMORY_SHARE) / CACHED_WORKFLOW_BYTES);
  return {
    // At least a few: a cache of 0 makes every workflow task replay the whole history.
    cachedWorkflows: overrides.cachedWorkflows ?? Math.max(16, Math.min(MAX_CACHED_WORKFLOWS, byMemory)),
    workflowTaskSlots: cpus * WORKFLOW_TASK_SLOTS_PER_CPU,
    activitySlots: overrides.activitySlots ?? cpus * ACTIVITY_SLOTS_PER_CPU,
  };
}

/**
 * glibc's malloc arenas for the worker process. glibc gives threads that allocate at once arenas
 * of their own, up to eight per core, and keeps what is freed in each; the worker's threads (the
 * Temporal core's runtime, libuv's pool, V8's platform threads and the workflow thread) left it
 * 40-50 MiB larger than with two arenas (decision 020, "Memory outside the heap"). glibc reads the setting once, at the process's start: the parent that starts the worker
 * passes it (the supervisor of `npm start`, the benchmarks, docker-compose's environment).
 */
export const WORKER_MALLOC_ARENAS = 2;

/** What the worker process's environment adds to `env`; an operator's own MALLOC_ARENA_MAX wins. */
export function workerProcessEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.MALLOC_ARENA_MAX ? {} : { MALLOC_ARENA_MAX: String(WORKER_MALLOC_ARENAS) };
}
