// Whose fault a database error is, by its SQLSTATE (PostgreSQL, Appendix A "Error Codes"): the
// database or the network (retry later: 503 with Retry-After), or a value the request carried
// (400). Errors reach us three ways: pg's own (`code` is the SQLSTATE), Prisma's over the driver
// adapter (P2010 with `meta.driverAdapterError.cause.code`/`originalCode`, or only a `kind` when
// no SQLSTATE exists, such as an unreachable server), and Prisma's own P-codes.

export type DatabaseFault = 'unavailable' | 'invalid-input' | 'internal';

/** Seconds a client is asked to wait when the database is unavailable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

const SQLSTATE = /^[0-9A-Z]{5}$/;
/** Prisma's own codes (P1xxx connection, P2xxx query, P3xxx migrate) share the SQLSTATE shape; P0xxx is PL/pgSQL's class. */
const PRISMA_CODE = /^P[1-9]\d{3}$/;

/** The driver adapter's names for failures that carry no SQLSTATE (@prisma/driver-adapter-utils). */
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionWriteConflict', 'TlsConnectionError', 'DatabaseDoesNotExist', 'DatabaseAccessDenied', 'AuthenticationFailed']);
const INVALID_INPUT_KINDS = new Set(['ValueOutOfRange', 'InvalidInputValue', 'LengthMismatch']);
/** Prisma: can't reach the server, timed out, server closed the connection, pool timeout, transaction could not start, write conflict. */
const UNAVAILABLE_PRISMA = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2034']);
/** Prisma: value too long, invalid value, out of range, inconsistent column data (e.g. not a UUID). */
const INVALID_INPUT_PRISMA = new Set(['P2000', 'P2006', 'P2007', 'P2020', 'P2023']);
/** Node's socket errors: the server is not there. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH']);
/** pg reports a connection lost in the middle of a transaction with plain Errors and no code. */
const CONNECTION_LOST = /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect)/;

interface Found {
  sqlstate?: string;
  kind?: string;
  prismaCode?: string;
  networkCode?: string;
  connectionLost: boolean;
}

/** Walks the error, its causes and Prisma's driver adapter error for what identifies the failure. */
function inspect(error: unknown): Found {
  const found: Found = { connectionLost: false };
  const queue: unknown[] = [error];
  for (let seen = 0; queue.length > 0 && seen < 12; seen++) {
    const current = queue.shift();
    if (!current || typeof current !== 'object') continue;
    const { code, originalCode, kind, cause, meta, message } = current as Record<string, unknown>;
    for (const candidate of [originalCode, code]) {
      if (typeof candidate !== 'string') continue;
      if (PRISMA_CODE.test(candidate)) found.prismaCode ??= candidate;
      else if (NETWORK_CODES.has(candidate)) found.networkCode ??= candidate;
      else if (SQLSTATE.test(candidate)) found.sqlstate ??= candidate;
    }
    if (typeof kind === 'string' && kind !== 'postgres') found.kind ??= kind;
    if (typeof message === 'string' && CONNECTION_LOST.test(message)) found.connectionLost = true;
    queue.push(cause, (meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError);
  }
  return found;
}

/**
 * 'unavailable': connection exceptions (08), insufficient resources (53), operator intervention
 * such as a shutdown or a statement timeout (57), system errors (58), serialization failures,
 * deadlocks and lock timeouts (40001, 40P01, 55P03), which succeed when retried. 'invalid-input':
 * data exceptions (22), a value the request carried that the column or cast cannot take.
 * 'internal': any other SQLSTATE, a bug of ours (42 a wrong statement, 23 a broken invariant).
 * undefined: not recognisably a database error.
 */
export function classifyDatabaseError(error: unknown): DatabaseFault | undefined {
  const found = inspect(error);
  if (found.sqlstate) {
    if (/^(08|53|57|58)/.test(found.sqlstate) || ['40001', '40P01', '55P03'].includes(found.sqlstate)) return 'unavailable';
    if (found.sqlstate.startsWith('22')) return 'invalid-input';
    return 'internal';
  }
  if (found.networkCode || found.connectionLost) return 'unavailable';
  if (found.kind && UNAVAILABLE_KINDS.has(found.kind)) return 'unavailable';
  if (found.kind && INVALID_INPUT_KINDS.has(found.kind)) return 'invalid-input';
  if (found.prismaCode && UNAVAILABLE_PRISMA.has(found.prismaCode)) return 'unavailable';
  if (found.prismaCode && INVALID_INPUT_PRISMA.has(found.prismaCode)) return 'invalid-input';
  return undefined;
}

/**
 * SQLSTATE classes whose error proves the statement did not commit (PostgreSQL, Appendix A): it
 * was rejected for what it said or did (21 cardinality, 22 data, 23 integrity constraint, 42
 * syntax or access rule, 44 WITH CHECK OPTION, P0 a raised exception) or rolled back to be retried
 * (class 40, transaction rollback: serialization failure, deadlock; but not 40003,
 * statement_completion_unknown, which says the opposite). In a statement's own implicit
 * transaction such an error, at the commit too (a deferred constraint), undoes all of it.
 */
const ROLLED_BACK_CLASSES = /^(21|22|23|42|44|P0)|^40(?!003)/;

/**
 * Whether PostgreSQL answered that the statement did not commit. A lost connection, a shutdown
 * (57P01 comes after a commit as well as before one), an error without a SQLSTATE: no proof, the
 * statement may have committed before its answer was lost.
 */
export function statementRolledBack(error: unknown): boolean {
  const { sqlstate } = inspect(error);
  return sqlstate !== undefined && ROLLED_BACK_CLASSES.test(sqlstate);
}

/** The database's own words about a data exception: they describe the request's value, not our schema. */
export function databaseMessage(error: unknown): string | undefined {
  const queue: unknown[] = [error];
  for (let seen = 0; queue.length > 0 && seen < 12; seen++) {
    const current = queue.shift();
    if (!current || typeof current !== 'object') continue;
    const { originalMessage, severity, message, cause, meta } = current as Record<string, unknown>;
    if (typeof originalMessage === 'string') return originalMessage;
    if (typeof severity === 'string' && typeof message === 'string') return message;
    queue.push(cause, (meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError);
  }
  return undefined;
}
