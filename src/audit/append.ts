// Appends audit rows inside the caller's transaction, so a change and its record commit together.
import type { Prisma } from '../db/client.js';
import { hashAuditRow } from './chain.js';
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
}

export type Transaction = Prisma.TransactionClient;

/**
 * Locks the chain head, chains the entries onto it and moves it forward. The lock is held until
 * the transaction commits: callers append last, just before commit, and the rows and the new head
 * are written in one statement, so the lock spans two round trips and the commit, no more.
 */
export async function appendAudit(tx: Transaction, entries: AuditEntry[], now: Date = new Date()): Promise<void> {
  if (entries.length === 0) return;
  const [head] = await tx.$queryRaw<{ seq: bigint; hash: string }[]>`
    SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE`;
  if (!head) throw new Error('audit_chain_head is missing: the database was not migrated');
  let seq = head.seq;
  let prevHash = head.hash;
  const rows = entries.map((entry) => {
    seq += 1n;
    const row = {
      seq,
      occurredAt: now,
      actor: entry.actor,
      action: entry.action,
      identityId: entry.identityId ?? null,
      eventId: entry.eventId ?? null,
      system: entry.system ?? null,
      data: toJson(entry.data ?? {}),
      prevHash,
    };
    prevHash = hashAuditRow(row);
    return { ...row, hash: prevHash };
  });
  await tx.$executeRaw`
    WITH appended AS (
      INSERT INTO audit_event (seq, occurred_at, actor, action, identity_id, event_id, system, data, prev_hash, hash)
      SELECT * FROM unnest(
        ${rows.map((row) => row.seq)}::bigint[], ${rows.map((row) => row.occurredAt)}::timestamptz[],
        ${rows.map((row) => row.actor)}::text[], ${rows.map((row) => row.action)}::text[],
        ${rows.map((row) => row.identityId)}::uuid[], ${rows.map((row) => row.eventId)}::uuid[],
        ${rows.map((row) => row.system)}::text[], ${rows.map((row) => JSON.stringify(row.data))}::jsonb[],
        ${rows.map((row) => row.prevHash)}::text[], ${rows.map((row) => row.hash)}::text[])
      RETURNING 1)
    UPDATE audit_chain_head SET seq = ${seq}, hash = ${prevHash} WHERE id = 1`;
}
