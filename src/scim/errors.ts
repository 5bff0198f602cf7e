// Every SCIM error leaves as an RFC 7644 §3.12 body. scimmy turns errors it does not know into
// 404s, so handlers convert theirs first: bad input is 400, a clash 409, an outage 503.
import SCIMMY from 'scimmy';
import { classifyDatabaseError, databaseMessage } from '../db/errors.js';

export const ScimError = SCIMMY.Types.Error;
export type ScimError = InstanceType<typeof SCIMMY.Types.Error>;

/** scimmy types scimType as required, but RFC 7644 §3.12 only defines it for some 400s and 409. */
export function scimError(status: number, scimType: string | undefined, detail: string): ScimError {
  return new ScimError(status, scimType as string, detail);
}

const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '57P01', '57P03', '53300', '08006', '08001']);

function codeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') {
      if (OUTAGE_CODES.has(code) || code === 'P2002' || code === '23505') return code;
    }
    current = cause;
  }
  return undefined;
}

/** pg reports a connection lost in the middle of a transaction with plain Errors and no code. */
const CONNECTION_LOST = /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect)/;

function isDatabaseError(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name ?? '';
  return /^Prisma|DriverAdapterError/.test(name) || CONNECTION_LOST.test((error as Error | null)?.message ?? '');
}

export function isUniqueViolation(error: unknown): boolean {
  const code = codeOf(error);
  const message = (error as Error | null)?.message ?? '';
  return code === 'P2002' || code === '23505' || /Unique constraint failed|duplicate key value/.test(message);
}

/** Converts anything a handler threw into the SCIM error the client should see. */
export function toScimError(error: unknown): ScimError {
  if (error instanceof ScimError) return error;
  if (error instanceof TypeError) return new ScimError(400, 'invalidValue', error.message);
  const typed = error as { name?: string; status?: number; scimType?: string; message?: string };
  if (typed?.name === 'ScimQueryError') return new ScimError(typed.status ?? 400, typed.scimType ?? 'invalidFilter', typed.message ?? 'invalid query');
  if (isUniqueViolation(error)) return new ScimError(409, 'uniqueness', 'A resource with that userName already exists');
  // Whose fault it is, by SQLSTATE (src/db/errors.ts): a value the request carried is a 400
  // invalidValue (RFC 7644 §3.12), the database being away a 503 the client should retry.
  const fault = classifyDatabaseError(error);
  if (fault === 'invalid-input') return scimError(400, 'invalidValue', `A value in the request is not acceptable: ${databaseMessage(error) ?? 'out of range or malformed'}`);
  if (fault === 'unavailable') return scimError(503, undefined, 'The identity store is temporarily unavailable; retry later');
  if (fault === 'internal') return scimError(500, undefined, 'Internal error');
  const code = codeOf(error);
  if ((code && OUTAGE_CODES.has(code)) || isDatabaseError(error)) {
    return scimError(503, undefined, 'The identity store is temporarily unavailable; retry later');
  }
  return scimError(500, undefined, 'Internal error');
}

export function errorBody(status: number, detail: string, scimType?: string) {
  return {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
    status: String(status),
    ...(scimType ? { scimType } : {}),
    detail,
  };
}
