// Servers jml starts for itself (the embedded PostgreSQL, the Temporal dev server) run in a process
// group of their own, so a Ctrl-C in the terminal reaches jml only and jml stops them last, after
// the API and the worker (issue 17: they died first, and the worker retried a gone Temporal).
//
// Out of the terminal's group they would outlive a jml killed with SIGKILL, and Node has no
// prctl(PR_SET_PDEATHSIG). So each gets a watchdog: a shell, in a group of its own too, whose stdin
// is a pipe from jml. The kernel closes jml's end however jml dies, the watchdog's `read` returns at
// end of file, and it sends the server its stop signal (SIGKILL after a grace period).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { Socket } from 'node:net';

/** How long an orphaned server gets to stop after its signal before the watchdog kills it. */
const ORPHAN_GRACE_SECONDS = 30;

// $1: the server's pid, $2: its stop signal, $3: the grace period. `read` sees end of file only
// once every writer is gone: Node opens its pipes close-on-exec, so jml's other children hold none.
const WATCHDOG = `
read -r _ignored
kill -s "$2" "$1" 2>/dev/null || exit 0
i=0
while kill -0 "$1" 2>/dev/null && [ "$i" -lt "$3" ]; do sleep 1; i=$((i + 1)); done
kill -s KILL "$1" 2>/dev/null
exit 0
`;

export interface TetheredProcess {
  child: ChildProcess;
  /** Stops the server with its stop signal and resolves once it exited (the watchdog goes first). */
  stop(): Promise<void>;
  /** SIGKILL, as a crash would (fault tests). */
  kill(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/**
 * Spawns `program` in a new process group, watched as described above. `stopSignal` is what the
 * server takes as "shut down cleanly" (PostgreSQL: SIGINT, a fast shutdown; Temporal: SIGTERM).
 */
export function spawnTethered(program: string, args: string[], options: SpawnOptions & { stopSignal: NodeJS.Signals }): TetheredProcess {
  const { stopSignal, ...spawnOptions } = options;
  const child = spawn(program, args, { ...spawnOptions, detached: true });
  let watchdog: ChildProcess | undefined;
  // A spawn that failed has no pid: there is nothing to watch, and the caller sees the 'error'.
  if (child.pid !== undefined) {
    // POSIX kill -s takes the name without its SIG prefix (dash refuses `-s SIGINT`).
    const signalName = stopSignal.replace(/^SIG/, '');
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'jml-watchdog', String(child.pid), signalName, String(ORPHAN_GRACE_SECONDS)], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    // The watchdog must not keep jml's event loop alive, nor its pipe.
    watchdog.unref();
    (watchdog.stdin as Socket | null)?.unref();
    watchdog.on('error', () => {});
    // Once the server is gone the watchdog has nothing to do (and must not signal a reused pid).
    child.once('exit', () => watchdog?.kill('SIGKILL'));
  }
  const signal = async (name: NodeJS.Signals) => {
    watchdog?.kill('SIGKILL');
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(name);
    await exited(child);
  };
  return { child, stop: () => signal(stopSignal), kill: () => signal('SIGKILL') };
}
