// Appends audit rows inside the caller's transaction, so a change and its record commit together.
// The rows carry their leaf hash only: nothing here waits for another transaction. The integrator
// (src/audit/integrator.ts) links them into the chain once they have committed
// (docs/decisions/016-audit-integration.md).
import { Prisma } from '../generated/prisma/client.js';
import { entryHash } from './chain.js';
import { toJson } from './canonical.js';

export interface AuditEntry {
  /** A SCIM client's name, an operator's name, or "system" for jml's own workflows. */
  actor: string;
  /** Dotted verb, e.g. "scim.user.created", "lifecycle.leaver.detected", "target.deactivate.succeeded". */
  action: string;
  identityId?: string | null;
  eventId?: string | null;
  system?: string | null;
  data?: Record<string, unknown>;
  /**
   * When it happened, where that is earlier than the statement that records it: a vendor's
   * acceptance written together with its read-back (decision 065). Otherwise the write's `now`.
   */
  occurredAt?: Date;
}

export type Transaction = Prisma.TransactionClient;

function auditRows(entries: AuditEntry[], now: Date) {
  return entries.map((entry) => {
    const content = {
      occurredAt: entry.occurredAt ?? now,
      actor: entry.actor,
      action: entry.action,
      identityId: entry.identityId ?? null,
      eventId: entry.eventId ?? null,
      system: entry.system ?? null,
      data: toJson(entry.data ?? {}),
    };
    return { ...content, entryHash: entryHash(content) };
  });
}

/**
 * The INSERT of `entries`, as a fragment a Prisma raw statement can embed (a CTE of the change it
 * records); `when` is an SQL condition that must hold for the rows to be written.
 */
export function auditInsert(entries: AuditEntry[], now: Date, when: Prisma.Sql = Prisma.sql`true`): Prisma.Sql {
  const rows = auditRows(entries, now);
  return Prisma.sql`
    INSERT INTO audit_event (occurred_at, actor, action, identity_id, event_id, system, data, entry_hash)
    SELECT * FROM unnest(
      ${rows.map((row) => row.occurredAt)}::timestamptz[],
      ${rows.map((row) => row.actor)}::text[], ${rows.map((row) => row.action)}::text[],
      ${rows.map((row) => row.identityId)}::uuid[], ${rows.map((row) => row.eventId)}::uuid[],
      ${rows.map((row) => row.system)}::text[], ${rows.map((row) => JSON.stringify(row.data))}::jsonb[],
      ${rows.map((row) => row.entryHash)}::text[])
    WHERE ${when}`;
}

/** One multi-row INSERT, no lock: seq, prev_hash and hash stay null until integration. */
export async function appendAudit(tx: Transaction, entries: AuditEntry[], now: Date = new Date()): Promise<void> {
  if (entries.length === 0) return;
  await tx.$executeRaw(auditInsert(entries, now));
}

/**
 * The same INSERT as a fragment of a pg statement (src/db/sql.ts), for a status change that
 * writes its record in the same statement (a CTE): one statement is one transaction, so the change
 * and its audit rows still commit together (decision 019). Its parameters are numbered from
 * `first`; `when` is an SQL condition (e.g. `EXISTS (SELECT 1 FROM moved)`) that must hold for the
 * rows to be written, and may name each row's columns as `entry.<column>` (e.g. `entry.event_id IN
 * (SELECT id FROM finished)`: a statement that changes many events writes the rows of those it changed).
 */
export function auditInsertSql(entries: AuditEntry[], now: Date, first: number, when = 'true'): { text: string; values: unknown[] } {
  const rows = auditRows(entries, now);
  const p = (offset: number) => `$${first + offset}`;
  const columns = 'entry(occurred_at, actor, action, identity_id, event_id, system, data, entry_hash)';
  const insert = 'INSERT INTO audit_event (occurred_at, actor, action, identity_id, event_id, system, data, entry_hash)';
  // One entry (a per-leaver target outcome, a read-back, a SCIM write) is bound as scalars: eight
  // one-element arrays would each be quoted into an array literal here, parsed back by PostgreSQL
  // and expanded by a function scan (docs/decisions/061-audit-append-shape.md). Same parameter
  // numbers and the same entry.<column> names, so callers' texts do not depend on the shape.
  const [row] = rows;
  if (row && rows.length === 1) {
    return {
      text: `${insert}
      SELECT * FROM (VALUES (${p(0)}::timestamptz, ${p(1)}::text, ${p(2)}::text, ${p(3)}::uuid, ${p(4)}::uuid, ${p(5)}::text, ${p(6)}::jsonb, ${p(7)}::text))
        AS ${columns}
      WHERE ${when}`,
      values: [row.occurredAt, row.actor, row.action, row.identityId, row.eventId, row.system, JSON.stringify(row.data), row.entryHash],
    };
  }
  return {
    text: `${insert}
      SELECT * FROM unnest(${p(0)}::timestamptz[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::uuid[], ${p(4)}::uuid[], ${p(5)}::text[], ${p(6)}::jsonb[], ${p(7)}::text[])
        AS ${columns}
      WHERE ${when}`,
    values: [
      rows.map((row) => row.occurredAt),
      rows.map((row) => row.actor),
      rows.map((row) => row.action),
      rows.map((row) => row.identityId),
      rows.map((row) => row.eventId),
      rows.map((row) => row.system),
      rows.map((row) => JSON.stringify(row.data)),
      rows.map((row) => row.entryHash),
    ],
  };
}
