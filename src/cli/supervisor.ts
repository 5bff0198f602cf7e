// `npm start`'s default shape (docs/decisions/028-two-processes-by-default.md): one supervisor that
// owns the shared infrastructure (the embedded PostgreSQL and the Temporal dev server, started
// once) and runs the SCIM/API server and the Temporal worker as two child processes, so nothing a
// workflow does can hold up a SCIM answer beyond sharing the CPU.
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CONFIG, type Environment } from '../config.js';
import { logger } from '../logger.js';
import { workerProcessEnvironment } from '../temporal/worker-sizing.js';

export type ChildRole = 'api' | 'worker';

/** What a child sends the supervisor over IPC once it serves. */
export interface ReadyMessage {
  jml: 'ready';
  role: ChildRole;
  url?: string;
}

/** A child that dies this often within RESTART_WINDOW_MS stops everything instead of looping. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;
/** After the children's own deadline (JML_SHUTDOWN_TIMEOUT_MS), so that they say what hung before they are killed. */
const STOP_GRACE_AFTER_DEADLINE_MS = 5_000;

// The CLI's entry point beside this file (main.ts under tsx, main.js when built).
const mainScript = path.join(path.dirname(fileURLToPath(import.meta.url)), `main${path.extname(fileURLToPath(import.meta.url))}`);

export interface SupervisorOptions {
  env: Environment;
  demo: boolean;
  /** The shared infrastructure's addresses, handed to both children. */
  databaseUrl: string;
  temporalAddress: string;
  /** Stops the shared infrastructure after the children are gone. */
  stopInfrastructure(): Promise<void>;
  /**
   * Processes that serve only the fan-out (the Temporal dev server the supervisor started): their
   * CPU priority is lowered with the worker's, to JML_WORKER_NICE.
   */
  fanOutPids?: number[];
  /** Prints the banner once both children serve. */
  onReady(urls: Partial<Record<ChildRole, string>>): void;
}

export class ChildProcessFailedError extends Error {
  override readonly name = 'ChildProcessFailedError';
}

/**
 * The worker's own health check listens on PORT + 1 (the API keeps PORT); in demo mode the worker
 * reaches the simulators that the API process serves on PORT.
 */
function childEnvironment(role: ChildRole, options: SupervisorOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: options.databaseUrl, TEMPORAL_ADDRESS: options.temporalAddress, JML_SUPERVISED: '1' };
  // The children get the application role's URL only: the owner's stays with the supervisor,
  // which has migrated already (docs/decisions/037-least-privilege-in-the-database.md).
  for (const name of ['DATABASE_URL_FILE', 'JML_MIGRATE_DATABASE_URL', 'JML_MIGRATE_DATABASE_URL_FILE']) delete env[name];
  if (role === 'worker') {
    Object.assign(env, workerProcessEnvironment(process.env));
    env.PORT = String(options.env.PORT === 0 ? 0 : options.env.PORT + 1);
    env.JML_DEMO_SIMULATORS_URL = `http://127.0.0.1:${options.env.PORT}`;
  }
  return env;
}

/**
 * Lowers the CPU priority of process `pid` to `nice` (0-19), so that on a machine it shares with
 * the API the worker's fan-out takes the CPU the API leaves (docs/decisions/028). Linux schedules
 * a process that runs in a session of its own (the supervisor forks `detached`) in an autogroup of
 * its own, and between autogroups only the group's nice value counts (sched(7), "The autogroup
 * feature"): that is set through /proc/<pid>/autogroup, besides each thread's own nice value
 * (setpriority(2) sets one thread on Linux; threads started later inherit their creator's). Never
 * raises a priority, and a platform without these files keeps what it has, with a log line.
 */
export function lowerCpuPriority(pid: number, nice: number): void {
  if (nice <= 0) return;
  let threads: number[] = [pid];
  try {
    threads = readdirSync(`/proc/${pid}/task`).map(Number);
    const autogroup = `/proc/${pid}/autogroup`; // "/autogroup-123 nice 0"
    if (Number(/nice (-?\d+)/.exec(readFileSync(autogroup, 'utf8'))?.[1] ?? 0) < nice) writeFileSync(autogroup, String(nice));
  } catch (error) {
    // No /proc (macOS), or a kernel without CONFIG_SCHED_AUTOGROUP: thread nice values still apply.
    logger.debug({ pid, err: error }, 'no autogroup to lower; lowering the threads only');
  }
  for (const thread of threads) {
    try {
      if (os.getPriority(thread) < nice) os.setPriority(thread, nice);
    } catch (error) {
      // A thread that ended between the listing and the call (ESRCH) needs nothing.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') logger.warn({ pid, thread, err: error }, 'could not lower the worker process priority');
    }
  }
}

export function supervise(options: SupervisorOptions): Promise<number> {
  const children = new Map<ChildRole, ChildProcess>();
  const restarts: Record<ChildRole, number[]> = { api: [], worker: [] };
  const urls: Partial<Record<ChildRole, string>> = {};
  let announced = false;
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));

  const startChild = (role: ChildRole) => {
    const args = ['start', '--role', role, ...(options.demo ? ['--demo'] : [])];
    // Same Node flags (the TypeScript loader in development), same stdout and stderr. A process
    // group of its own: a Ctrl-C reaches the supervisor only, which stops everything in order.
    const child = fork(mainScript, args, { env: childEnvironment(role, options), stdio: 'inherit', detached: true });
    children.set(role, child);
    child.on('message', (message: ReadyMessage) => {
      if (message?.jml !== 'ready') return;
      // Once it serves, not before: a worker starved while it connects to Temporal and bundles its
      // workflows on a busy machine misses the connection's deadline and crash-loops
      // (JML_WORKER_NICE; docs/decisions/028).
      if (role === 'worker' && child.pid !== undefined) {
        lowerCpuPriority(child.pid, options.env.JML_WORKER_NICE);
        // The Temporal server works only for the worker's workflows and the relay's starts: the
        // SCIM intake never waits for it, so it yields with the worker (decision 028).
        for (const pid of options.fanOutPids ?? []) lowerCpuPriority(pid, options.env.JML_WORKER_NICE);
      }
      urls[role] = message.url;
      if (!announced && children.size === 2 && ['api', 'worker'].every((name) => name in urls)) {
        announced = true;
        options.onReady(urls);
      }
    });
    child.on('exit', (code, signal) => {
      if (children.get(role) === child) children.delete(role);
      if (stopping) return;
      // Its configuration stopped it (a port in use, a missing setting): it said why, once; the
      // same start would fail the same way.
      if (code === EXIT_CONFIG) {
        logger.fatal({ role, code }, `the ${role} process cannot start with this configuration (its message above says why); stopping jml.`);
        void stop('configuration', EXIT_CONFIG);
        return;
      }
      const now = Date.now();
      restarts[role] = [...restarts[role].filter((at) => now - at < RESTART_WINDOW_MS), now];
      if (restarts[role].length > MAX_RESTARTS) {
        logger.fatal(
          { role, code, signal },
          `the ${role} process exited ${restarts[role].length} times within ${RESTART_WINDOW_MS / 1000} s (last: ${signal ?? `exit code ${code}`}); stopping jml. Its output above says why.`,
        );
        void stop('child failed', 1);
        return;
      }
      logger.error({ role, code, signal }, `the ${role} process exited (${signal ?? `exit code ${code}`}); restarting it`);
      delete urls[role];
      setTimeout(() => !stopping && startChild(role), 1000);
    });
  };

  const stop = async (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    // In order: the API stops taking requests and starting workflows, then the worker finishes
    // its tasks while Temporal still answers, then Temporal, then the database (stopInfrastructure).
    for (const role of ['api', 'worker'] as const) {
      const child = children.get(role);
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), options.env.JML_SHUTDOWN_TIMEOUT_MS + STOP_GRACE_AFTER_DEADLINE_MS);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    await options.stopInfrastructure();
    finish(code);
  };

  process.once('SIGINT', () => void stop('SIGINT', 0));
  process.once('SIGTERM', () => void stop('SIGTERM', 0));
  startChild('api');
  startChild('worker');
  return finished;
}

/**
 * Called by a supervised child as it starts: the supervisor gone (kill -9), the child must not
 * outlive it and hold the ports. Its own process group keeps it from the terminal's signals.
 */
export function followSupervisor(role: ChildRole) {
  if (!process.connected) {
    logger.warn({ role }, 'the supervisor is gone already: exiting');
    process.exit(1);
  }
  process.once('disconnect', () => {
    logger.warn({ role }, 'the supervisor went away: stopping');
    process.kill(process.pid, 'SIGTERM');
  });
}

/** Called by a supervised child once it serves; a no-op when the process runs on its own. */
export function reportReady(role: ChildRole | 'all', url: string | undefined) {
  if (role === 'all' || !process.send) return;
  const message: ReadyMessage = { jml: 'ready', role, url };
  process.send(message);
}
