// The servers under test run in child processes of their own, so the load generator never shares
// an event loop with them. Parent and child talk over Node's IPC channel: request/response
// messages, plus two calls every child answers (its CPU time, and stop).
import { fork, type ChildProcess } from 'node:child_process';

type Api = Record<string, (payload: never) => unknown>;

interface Request {
  id: number;
  type: string;
  payload: unknown;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export class ChildProcessError extends Error {
  override readonly name = 'ChildProcessError';
}

export interface CpuTime {
  /** User + system CPU time in microseconds since the process started. */
  micros: number;
}

export interface ChildHandle<A extends Api> {
  pid: number;
  call<K extends keyof A & string>(type: K, ...payload: Parameters<A[K]> extends [] ? [] : Parameters<A[K]>): Promise<Awaited<ReturnType<A[K]>>>;
  cpu(): Promise<CpuTime>;
  /** Asks the child to close its servers and exit; kills it if it has not within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** JML_BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of each child there, to find the hot spots. */
function profiling(): string[] {
  const directory = process.env.JML_BENCH_PROFILE_DIR;
  return directory ? ['--cpu-prof', `--cpu-prof-dir=${directory}`] : [];
}

/** Forks `script` under tsx; the child's stdout goes to our stderr (our stdout is the report). */
export function startChild<A extends Api>(script: string, env: Record<string, string> = {}, options: { detached?: boolean } = {}): ChildHandle<A> {
  const child: ChildProcess = fork(script, [], {
    execArgv: ['--import', 'tsx', ...profiling()],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    // A session of its own, as `npm start` runs jml's two processes (its own scheduling autogroup
    // on Linux); it still exits when this process goes away (serveParent).
    detached: options.detached ?? false,
  });
  child.stdout?.pipe(process.stderr);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const { reject } of pending.values()) reject(new ChildProcessError(`${script} exited (${signal ?? code}) before answering`));
      pending.clear();
      resolve();
    });
  });
  child.on('message', (message: Reply) => {
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.ok) waiting.resolve(message.result);
    else waiting.reject(new ChildProcessError(`${script}: ${message.error}`));
  });

  function send(type: string, payload: unknown): Promise<unknown> {
    if (exited) return Promise.reject(new ChildProcessError(`${script} is not running`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ id, type, payload } satisfies Request);
    });
  }

  return {
    pid: child.pid!,
    call: (type, ...payload) => send(type, payload[0]) as never,
    cpu: () => send('cpu', undefined) as Promise<CpuTime>,
    async stop(graceMs = 30_000) {
      if (exited) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await send('stop', undefined).catch(() => {});
      await exit;
      clearTimeout(timer);
    },
  };
}

/**
 * The child's side: answers the parent's calls with `api`, plus `cpu` and `stop` (which runs
 * `close` and exits). A child whose parent goes away closes and exits too.
 */
export function serveParent(api: Record<string, (payload: never) => unknown>, close: () => Promise<void>): void {
  if (!process.send) throw new ChildProcessError('this script is started by bench/scim.ts (it needs an IPC channel)');
  let closing: Promise<void> | undefined;
  const shutdown = () => (closing ??= close());
  const handlers: Record<string, (payload: never) => unknown> = {
    ...api,
    cpu: () => {
      const { user, system } = process.cpuUsage();
      return { micros: user + system } satisfies CpuTime;
    },
    stop: shutdown,
  };
  process.on('message', (message: Request) => {
    const handler = handlers[message.type];
    void (async () => {
      let reply: Reply;
      try {
        if (!handler) throw new ChildProcessError(`unknown call ${message.type}`);
        reply = { id: message.id, ok: true, result: await handler(message.payload as never) };
      } catch (error) {
        reply = { id: message.id, ok: false, error: (error as Error).stack ?? String(error) };
      }
      if (process.connected) process.send!(reply);
      if (message.type === 'stop') process.disconnect?.();
    })();
  });
  process.once('disconnect', () => {
    void shutdown()
      .catch((error: unknown) => process.stderr.write(`closing failed: ${(error as Error).stack ?? String(error)}\n`))
      .finally(() => process.exit(0));
  });
}
