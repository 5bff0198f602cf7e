// Stopping on SIGTERM or SIGINT within a deadline. An orchestrator sends SIGTERM and, after a
// grace period, SIGKILL: Kubernetes waits the pod's terminationGracePeriodSeconds, 30 s by default
// (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination). jml stops
// taking requests and tasks, lets those in flight finish, and exits on its own before that, by
// default after 25 s (JML_SHUTDOWN_TIMEOUT_MS), saying so when something did not finish, instead
// of being killed without a word.
import type { Logger } from '../logger.js';

/** The exit code when the deadline passed before draining finished (0 when it finished). */
export const SHUTDOWN_TIMED_OUT_EXIT_CODE = 1;

export interface ShutdownOptions {
  timeoutMs: number;
  logger: Logger;
  /** process.exit, unless a test watches it. */
  exit?: (code: number) => void;
}

/**
 * Runs `drain` on the first SIGTERM or SIGINT and exits with 0 when it finishes, or with
 * SHUTDOWN_TIMED_OUT_EXIT_CODE and a fatal log line when `timeoutMs` passes first. A second signal
 * gets Node's default handling (exit at once): an operator pressing Ctrl-C twice means it.
 */
export function stopOnSignals(drain: (signal: NodeJS.Signals) => Promise<void>, options: ShutdownOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const started = Date.now();
    options.logger.info({ signal, timeoutMs: options.timeoutMs }, 'shutting down: taking no new requests or tasks, finishing those in flight');
    const deadline = setTimeout(() => {
      options.logger.fatal(
        { signal, timeoutMs: options.timeoutMs },
        `shutdown did not finish within ${options.timeoutMs} ms (JML_SHUTDOWN_TIMEOUT_MS): a request or an activity is still running; exiting with code ${SHUTDOWN_TIMED_OUT_EXIT_CODE} anyway`,
      );
      exit(SHUTDOWN_TIMED_OUT_EXIT_CODE);
    }, options.timeoutMs);
    drain(signal).then(
      () => {
        clearTimeout(deadline);
        options.logger.info({ signal, ms: Date.now() - started }, 'shut down');
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(deadline);
        options.logger.fatal({ err: error, signal }, 'shutdown failed');
        exit(SHUTDOWN_TIMED_OUT_EXIT_CODE);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
