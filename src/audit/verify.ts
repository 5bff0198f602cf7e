// Checks the audit hash chain (docs/decisions/004-audit-chain.md, 016-audit-integration.md):
// every integrated row's hashes recomputed from its content, every prev_hash equal to the hash of
// the row before, no seq missing, and the chain head pointing at the last row. Rows are read in seq
// order, a batch at a time, so memory stays flat however long the trail is. Rows not yet
// integrated are not part of the chain: they are counted and reported, not verified.
import type { Database } from '../db/client.js';
import type { AuditEvent } from '../generated/prisma/client.js';
import { chainHash, entryHash, GENESIS_HASH, hashAuditRow, type AuditContent } from './chain.js';
import type { JsonValue } from './canonical.js';

export interface BrokenLink {
  /** The first row that fails (for a gap: the first missing seq). */
  seq: bigint;
  reason: string;
}

/** Rows committed but not yet linked into the chain by the integrator. */
export interface PendingRows {
  rows: number;
  /** When the oldest of them was inserted. */
  oldestAppendedAt: Date | null;
}

export interface VerifyResult {
  ok: boolean;
  rowsChecked: number;
  /** The chain head the check ran up to: record it elsewhere to detect a later truncation. */
  head: { seq: bigint; hash: string };
  firstBroken?: BrokenLink;
  /** Counted when the check began: rows the chain does not cover yet. */
  pending: PendingRows;
}

/** Where the chain starts: the genesis, or an archive checkpoint (decision 010). */
export interface ChainStart {
  seq: bigint;
  hash: string;
}

export const GENESIS: ChainStart = { seq: 0n, hash: GENESIS_HASH };

/** A row the chain covers: its seq, prev_hash and hash are set. */
export type IntegratedRow = AuditEvent & { seq: bigint; prevHash: string; hash: string };

export function isIntegrated(row: AuditEvent): row is IntegratedRow {
  return row.seq !== null && row.prevHash !== null && row.hash !== null;
}

/** The latest archive checkpoint (decision 010). */
export async function latestCheckpoint(db: Database): Promise<ChainStart | null> {
  const checkpoint = await db.auditCheckpoint.findFirst({ orderBy: { seq: 'desc' } });
  return checkpoint ? { seq: checkpoint.seq, hash: checkpoint.hash } : null;
}

function contentOf(row: Omit<AuditContent, 'data'> & { data: unknown }): AuditContent {
  return { ...row, data: row.data as JsonValue };
}

/** Whether a version 2 row's leaf hash still matches its content (integrated or not). */
export function entryHashMatches(row: Omit<AuditContent, 'data'> & { data: unknown; entryHash: string | null }): boolean {
  return row.entryHash !== null && entryHash(contentOf(row)) === row.entryHash;
}

/** The fields a row's hashes cover, as the table and an archive file both hold them. */
export type HashedRow = Omit<AuditContent, 'data'> & {
  data: unknown;
  seq: bigint;
  prevHash: string;
  hash: string;
  entryHash: string | null;
  chainVersion: number;
};

/** Why an integrated row's own hashes do not recompute, or null when they do. */
export function rowHashProblem(row: HashedRow): string | null {
  if (row.chainVersion === 1) {
    return hashAuditRow({ ...contentOf(row), seq: row.seq, prevHash: row.prevHash }) === row.hash ? null : 'hash mismatch (row edited)';
  }
  if (row.chainVersion !== 2) return `unknown chain version ${row.chainVersion}`;
  if (!entryHashMatches(row)) return 'entry hash mismatch (row content edited)';
  if (chainHash({ entryHash: row.entryHash!, prevHash: row.prevHash, seq: row.seq }) !== row.hash) return 'hash mismatch (row edited)';
  return null;
}

export function rowHashMatches(row: IntegratedRow): boolean {
  return rowHashProblem(row) === null;
}

/**
 * Why `row` does not follow `previous` in the chain, or null when it does. The order of the checks
 * names the likeliest cause: a missing seq is a deletion, a wrong own hash an edit in place, a
 * wrong prev_hash an edit of the row before whose hash was recomputed to hide it.
 */
export function linkProblem(previous: ChainStart, row: IntegratedRow): BrokenLink | null {
  if (row.seq !== previous.seq + 1n) {
    const first = previous.seq + 1n;
    const last = row.seq - 1n;
    if (row.seq <= previous.seq) return { seq: row.seq, reason: `seq ${row.seq} is out of order after ${previous.seq}` };
    return { seq: first, reason: first === last ? `gap: row ${first} missing (deleted)` : `gap: rows ${first}..${last} missing (deleted)` };
  }
  const own = rowHashProblem(row);
  if (own) return { seq: row.seq, reason: own };
  if (row.prevHash !== previous.hash) return { seq: row.seq, reason: "prev_hash does not match the previous row's hash" };
  return null;
}

export async function pendingRows(db: Database): Promise<PendingRows> {
  const [row] = await db.$queryRaw<[{ rows: number; oldest: Date | null }]>`
    SELECT count(*)::int AS rows, min(appended_at) AS oldest FROM audit_event WHERE seq IS NULL`;
  return { rows: row.rows, oldestAppendedAt: row.oldest };
}

export interface VerifyOptions {
  /** Where to start; by default the latest archive checkpoint, or the genesis when none. */
  start?: ChainStart;
  batchSize?: number;
  /** Called with each row that verified, in seq order (verified anchors collect from it). */
  onVerified?: (row: ChainStart) => void;
}

/**
 * Verifies the chain from `start` up to the head as read when the check begins: rows integrated
 * while it runs are left for the next check, so a busy jml never makes it report a false break.
 */
export async function verifyChain(db: Database, options: VerifyOptions = {}): Promise<VerifyResult> {
  const batchSize = options.batchSize ?? 1000;
  const headRow = await db.auditChainHead.findUnique({ where: { id: 1 } });
  if (!headRow) throw new Error('audit_chain_head is missing: the database was not migrated (run `jml migrate`)');
  const head = { seq: headRow.seq, hash: headRow.hash };
  const pending = await pendingRows(db);
  let previous = options.start ?? (await latestCheckpoint(db)) ?? GENESIS;
  let rowsChecked = 0;
  const broken = (firstBroken: BrokenLink): VerifyResult => ({ ok: false, rowsChecked, head, firstBroken, pending });

  for (;;) {
    const rows = await db.auditEvent.findMany({
      where: { seq: { gt: previous.seq, lte: head.seq } },
      orderBy: { seq: 'asc' },
      take: batchSize,
    });
    for (const row of rows) {
      if (!isIntegrated(row)) return broken({ seq: row.seq ?? previous.seq + 1n, reason: 'a row with a seq lacks its prev_hash or hash' });
      const problem = linkProblem(previous, row);
      if (problem) return broken(problem);
      rowsChecked += 1;
      previous = { seq: row.seq, hash: row.hash };
      options.onVerified?.(previous);
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
  return { ok: true, rowsChecked, head, pending };
}
