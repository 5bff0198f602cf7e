// Every 5xx is logged once with the request id the response carries (X-Request-Id, src/app.ts),
// so a client's report leads to the log line. Surfaces that know the cause log it here; the
// request-id middleware logs the rest (a health check's 503, an unexpected throw).
import type { Request, Response } from 'express';
import { logger as defaultLogger, type Logger } from './logger.js';
import { classifyDatabaseError } from './db/errors.js';

interface FailureLocals {
  requestId?: string;
  failureLogged?: boolean;
}

/** Logs the failure behind a 5xx: a database that is away at warn, anything else at error. */
export function logFailure(res: Response, error: unknown, message: string, logger: Logger = defaultLogger): void {
  const locals = res.locals as FailureLocals;
  locals.failureLogged = true;
  // Raw, or already converted to the 503 the client gets (src/scim/errors.ts).
  const unavailable = classifyDatabaseError(error) === 'unavailable' || Number((error as { status?: unknown } | null)?.status) === 503;
  logger[unavailable ? 'warn' : 'error']({ err: error, requestId: locals.requestId }, message);
}

/** For the request-id middleware: one line for a 5xx that no surface explained. */
export function logUnexplainedFailure(req: Request, res: Response): void {
  const locals = res.locals as FailureLocals;
  if (res.statusCode < 500 || locals.failureLogged) return;
  // The path only: query strings carry filters with email addresses.
  defaultLogger.warn({ requestId: locals.requestId, method: req.method, path: req.path, status: res.statusCode }, 'answered with a server error');
}
