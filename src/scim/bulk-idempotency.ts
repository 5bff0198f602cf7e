// An Idempotency-Key for SCIM Bulk (docs/decisions/032-scim-bulk.md): a client that lost the
// answer to a Bulk request sends the same request again with the same key, and gets the first
// request's answer without any operation running twice, even when the API died in the middle or
// the resend reaches another replica. RFC 7644 §3.7 defines no such key; the header is the one
// the IETF HTTPAPI working group's draft-ietf-httpapi-idempotency-key-header names (Stripe's and
// others' before it), with its answers: the same key with another body is 422, and a key whose
// request is still running is 409.
//
// In PostgreSQL (migration 20261204600000): the request's row holds the body's hash and, once
// every operation ran, the whole BulkResponse; each operation's result is written as soon as it is
// known, so a request resumed after a crash runs only the operations that have no result yet (and
// resolves bulkId references to what the first run created). While one process runs a request it
// holds a session advisory lock on it: a resend to another replica waits for nothing and gets 409,
// and the lock goes with the connection when the process dies, so the next resend resumes.
//
// What a key cannot close: an operation that committed in the instant before its result was
// written runs again on resume, exactly as it would without a key (the same-person caveat of
// decision 032 then applies to that one operation). Results of 5xx are not recorded: they were
// not done, and a resend tries them again.
import { createHash, randomUUID } from 'node:crypto';
import { poolOf, type Database } from '../db/client.js';
import { scimError } from './errors.js';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** How long a key is remembered: a client resends within minutes, never a day later. */
export const IDEMPOTENCY_KEY_HOURS = 24;

/** An operation's entry of the BulkResponse, with what a POST created for bulkId references. */
export interface RecordedOperation {
  result: { status: string } & Record<string, unknown>;
  bulkId?: string;
  createdId?: string;
}

export interface BulkJournal {
  /** Results recorded by an earlier run of this request, by operation index. */
  recorded: Map<number, RecordedOperation>;
  record(index: number, operation: RecordedOperation): Promise<void>;
  /** Stores the whole answer: from now on a resend gets it as it is. */
  finish(response: unknown): Promise<void>;
  release(): Promise<void>;
}

export type BulkStart = { kind: 'replay'; response: unknown } | { kind: 'run'; journal: BulkJournal };

/** The header's value: a structured-field string ("...") as the draft says, or bare as Stripe sends it. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = /^"(.*)"$/.exec(header.trim())?.[1] ?? header.trim();
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw scimError(400, 'invalidValue', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces');
  }
  return key;
}

export function bodyHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

const lockName = (id: string) => `jml-scim-bulk:${id}`;

interface OperationRow {
  index: number;
  result: RecordedOperation['result'];
  bulk_id: string | null;
  created_id: string | null;
}

interface RequestRow {
  id: string;
  body_hash: string;
  response: unknown;
}

/**
 * Claims a Bulk request sent with an Idempotency-Key: a replay of its stored answer, or a journal
 * to run it with (holding its lock until release()). Throws the RFC 7644 §3.12 error to answer
 * for a key reused with another body (422) or a request still running elsewhere (409).
 */
export async function startIdempotentBulk(db: Database, client: string, key: string, body: unknown): Promise<BulkStart> {
  const pool = await poolOf(db);
  const hash = bodyHash(body);
  const find = async (): Promise<RequestRow | undefined> =>
    (await pool.query<RequestRow>('SELECT id, body_hash, response FROM scim_bulk_request WHERE client = $1 AND idempotency_key = $2', [client, key])).rows[0];
  const { rows: inserted } = await pool.query<{ id: string }>(
    `INSERT INTO scim_bulk_request (id, client, idempotency_key, body_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (client, idempotency_key) DO NOTHING RETURNING id`,
    [randomUUID(), client, key, hash],
  );
  if (inserted[0]) {
    // A new key: forget the keys older than a day (an index on created_at keeps this cheap).
    await pool.query(`DELETE FROM scim_bulk_request WHERE created_at < now() - make_interval(hours => $1)`, [IDEMPOTENCY_KEY_HOURS]);
  }
  const row = inserted[0] ? { id: inserted[0].id, body_hash: hash, response: null } : await find();
  if (!row) throw scimError(409, undefined, 'A Bulk request with this Idempotency-Key was being forgotten as this one arrived; send it again');
  if (row.body_hash !== hash) {
    throw scimError(
      422,
      undefined,
      `Idempotency-Key "${key}" was already used for a different Bulk request in the last ${IDEMPOTENCY_KEY_HOURS} hours: use a new key for a new request, and the same key only to resend the same request`,
    );
  }
  if (row.response !== null) return { kind: 'replay', response: row.response };

  let operations: OperationRow[];
  const connection = await pool.connect();
  let broken = false;
  const onError = () => (broken = true);
  connection.on('error', onError);
  const giveBack = () => {
    connection.off('error', onError);
    // A connection that failed is closed, which lets go of the lock too.
    connection.release(broken);
  };
  let locked = false;
  try {
    const { rows: locks } = await connection.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [lockName(row.id)]);
    if (!locks[0]!.locked) {
      throw scimError(409, undefined, 'A Bulk request with this Idempotency-Key is still running; send it again once that one is answered');
    }
    locked = true;
    // The first run may have finished between the read above and the lock.
    const { rows: now } = await connection.query<{ response: unknown }>('SELECT response FROM scim_bulk_request WHERE id = $1', [row.id]);
    if (now[0] && now[0].response !== null) {
      await connection.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockName(row.id)]);
      giveBack();
      return { kind: 'replay', response: now[0].response };
    }
    operations = (await connection.query<OperationRow>('SELECT index, result, bulk_id, created_id FROM scim_bulk_operation WHERE request_id = $1', [row.id])).rows;
  } catch (error) {
    // A connection still holding the lock is closed rather than handed back to the pool with it.
    if (locked) broken = true;
    giveBack();
    throw error;
  }

  const recorded = new Map(
    operations.map((operation) => [
      operation.index,
      { result: operation.result, ...(operation.bulk_id ? { bulkId: operation.bulk_id } : {}), ...(operation.created_id ? { createdId: operation.created_id } : {}) },
    ]),
  );
  let released = false;
  return {
    kind: 'run',
    journal: {
      recorded,
      async record(index, operation) {
        if (Number(operation.result.status) >= 500) return;
        await connection.query(
          'INSERT INTO scim_bulk_operation (request_id, index, result, bulk_id, created_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
          [row.id, index, JSON.stringify(operation.result), operation.bulkId ?? null, operation.createdId ?? null],
        );
      },
      async finish(response) {
        await connection.query('UPDATE scim_bulk_request SET response = $2, finished_at = now() WHERE id = $1', [row.id, JSON.stringify(response)]);
      },
      async release() {
        if (released) return;
        released = true;
        try {
          if (!broken) await connection.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockName(row.id)]);
        } catch {
          broken = true;
        } finally {
          giveBack();
        }
      },
    },
  };
}
