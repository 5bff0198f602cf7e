// How an operator command ends: with its exit code, after everything it printed has left the
// process. process.exit() drops what is still queued on stdout or stderr, and writes to a pipe are
// asynchronous (Node's "A note on process I/O"): `jml events approve --all-held` releasing 298
// leavers, read through a pipe by a parent about a second late, lost everything past 15.6 of its
// 16.9 KB in 3 of 4 runs, its last line ("Released as one mass release") with it: the likely cause
// of CI's one kill-worker-mass-release failure. A write's callback runs once that write, and so
// every write before it, has been handed to the operating system.

/** Resolves once everything written to `stream` so far has been handed to the OS (or the stream failed). */
export function written(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

/** Exits with `code` once stdout and stderr have been written out. */
export async function exitWhenWritten(code: number, streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): Promise<never> {
  await Promise.all(streams.map(written));
  process.exit(code);
}
