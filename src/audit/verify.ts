// Checks the audit hash chain (docs/decisions/004-audit-chain.md): every row's hash recomputed
// from its content, every prev_hash equal to the hash of the row before, no seq missing, and the
// chain head pointing at the last row. Rows are read in seq order, a batch at a time, so memory
// stays flat however long the trail is.
import type { Database } from '../db/client.js';
import type { AuditEvent } from '../generated/prisma/client.js';
import { GENESIS_HASH, hashAuditRow } from './chain.js';
import type { JsonValue } from './canonical.js';

export interface BrokenLink {
  /** The first row that fails (for a gap: the first missing seq). */
  seq: bigint;
  reason: string;
}

export interface VerifyResult {
  ok: boolean;
  rowsChecked: number;
  /** The chain head the check ran up to: record it elsewhere to detect a later truncation. */
  head: { seq: bigint; hash: string };
  firstBroken?: BrokenLink;
}

/** Where the chain starts: the genesis, or an archive checkpoint (decision 010). */
export interface ChainStart {
  seq: bigint;
  hash: string;
}

export const GENESIS: ChainStart = { seq: 0n, hash: GENESIS_HASH };

/** The chain's start after archiving: the last archived row (decision 010). */
export async function latestCheckpoint(db: Database): Promise<ChainStart | null> {
  const checkpoint = await db.auditCheckpoint.findFirst({ orderBy: { seq: 'desc' } });
  return checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash } : null;
}

export function rowHashMatches(row: AuditEvent): boolean {
  return hashAuditRow({ ...row, data: row.data as JsonValue }) === row.hash;
}

/**
 * Why `row` does not follow `previous` in the chain, or null when it does. The order of the checks
 * names the likeliest cause: a missing seq is a deletion, a wrong own hash an edit in place, a
 * wrong prev_hash an edit of the row before whose hash was recomputed to hide it.
 */
export function linkProblem(previous: ChainStart, row: AuditEvent): BrokenLink | null {
  if (row.seq !== previous.seq + 1n) {
    const first = previous.seq + 1n;
    const last = row.seq - 1n;
    if (row.seq <= previous.seq) return { seq: row.seq, reason: `seq ${row.seq} is out of order after ${previous.seq}` };
    return { seq: first, reason: first === last ? `gap: row ${first} missing (deleted)` : `gap: rows ${first}..${last} missing (deleted)` };
  }
  if (!rowHashMatches(row)) return { seq: row.seq, reason: 'hash mismatch (row edited)' };
  if (row.prevHash !== previous.hash) return { seq: row.seq, reason: "prev_hash does not match the previous row's hash" };
  return null;
}

export interface VerifyOptions {
  /** Where to start; by default the latest archive checkpoint, or the genesis when none. */
  start?: ChainStart;
  batchSize?: number;
}

/**
 * Verifies the chain from `start` up to the head as read when the check begins: rows appended
 * while it runs are left for the next check, so a busy jml never makes it report a false break.
 */
export async function verifyChain(db: Database, options: VerifyOptions = {}): Promise<VerifyResult> {
  const batchSize = options.batchSize ?? 1000;
  const headRow = await db.auditChainHead.findUnique({ where: { id: 1 } });
  if (!headRow) throw new Error('audit_chain_head is missing: the database was not migrated (run `jml migrate`)');
  const head = { seq: headRow.seq, hash: headRow.hash };
  let previous = options.start ?? (await latestCheckpoint(db)) ?? GENESIS;
  let rowsChecked = 0;
  const broken = (firstBroken: BrokenLink): VerifyResult => ({ ok: false, rowsChecked, head, firstBroken });

  for (;;) {
    const rows = await db.auditEvent.findMany({
      where: { seq: { gt: previous.seq, lte: head.seq } },
      orderBy: { seq: 'asc' },
      take: batchSize,
    });
    for (const row of rows) {
      const problem = linkProblem(previous, row);
      if (problem) return broken(problem);
      rowsChecked += 1;
      previous = { seq: row.seq, hash: row.hash };
    }
    if (rows.length < batchSize) break;
  }

  if (previous.seq !== head.seq) {
    const first = previous.seq + 1n;
    const missing = first === head.seq ? `row ${head.seq} is missing` : `rows ${first}..${head.seq} are missing`;
    return broken({ seq: first, reason: `chain head does not match the last row: the head is at seq ${head.seq} but ${missing} (deleted)` });
  }
  if (previous.hash !== head.hash) {
    return broken({ seq: head.seq, reason: `chain head does not match the last row: row ${head.seq}'s hash differs from the head's` });
  }
  return { ok: true, rowsChecked, head };
}
