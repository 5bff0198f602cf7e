// The Temporal SDK's process-wide runtime, installed once, logging through pino instead of the
// console.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { logger } from '../logger.js';

let installed = false;

// System workers poll activity queues only, by design (docs/decisions/005-rate-limits.md).
const EXPECTED = new Set(['No workflows registered, not polling for workflow tasks']);

/** The SDK's logger interface, writing to pino at WARN and above. */
export const temporalLogger = new DefaultLogger('WARN', ({ level, message, meta }) => {
  if (EXPECTED.has(message)) return;
  const method = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[level];
  logger.child({ component: 'temporal' })[method](meta ?? {}, message);
});

export function installTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  Runtime.install({ logger: temporalLogger });
}
