// The Temporal SDK's process-wide runtime, installed once, logging through pino instead of the
// console.
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import { logger } from '../logger.js';

let installed = false;

export function installTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  const child = logger.child({ component: 'temporal' });
  Runtime.install({
    logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
      const method = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[level as LogLevel];
      child[method](meta ?? {}, message);
    }),
  });
}
