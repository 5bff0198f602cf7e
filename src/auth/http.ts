// What every authenticated HTTP surface (SCIM, operator API, metrics, pages) does the same way:
// read the bearer token, and write a failed authentication to the audit trail.
import type { Request } from 'express';
import { appendAudit } from '../audit/append.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';

/** RFC 6750 §2.1: `Authorization: Bearer <token>`. */
export function bearerToken(req: Request): string | undefined {
  return req.get('authorization')?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

/**
 * Audits a failed authentication. Never throws: a database that cannot take the audit row must
 * not turn a 401 into a 500 (the failure is logged instead).
 */
export async function auditAuthenticationFailure(db: Database, logger: Logger, req: Request, realm: string, reason: string): Promise<void> {
  await db
    .$transaction((tx) =>
      appendAudit(tx, [{ actor: 'anonymous', action: 'auth.failed', data: { realm, reason, ip: req.ip ?? null, method: req.method, path: req.originalUrl.slice(0, 200) } }]),
    )
    .catch((error: unknown) => logger.warn({ err: error, realm }, 'could not audit an authentication failure'));
}
