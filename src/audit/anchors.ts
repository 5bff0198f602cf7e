// Verified anchors (docs/decisions/039-evidence-against-verified-anchors.md): while a verification
// of the whole chain walks it, every 256th row's hash and the head's are recorded as hashes that
// verification vouched for. One person's rows are then proven as an evidence bundle proves them
// against a signed checkpoint (decision 036): recomputing the chain from the row's prev_hash over
// the rows up to the nearest anchor at or after it must give the anchor's hash. That is at most
// 255 leaf hashes per group of the person's rows, whatever the length of the trail, and it shows
// each row is, byte for byte, what the verification saw: a row rewritten since, with every hash
// after it recomputed to the head, still links to its neighbours but no longer reaches the anchor.
import type { Database } from '../db/client.js';
import { sqlOf } from '../db/sql.js';
import { nextChainHash, type AuditContent } from './chain.js';
import type { JsonValue } from './canonical.js';

export const ANCHOR_INTERVAL = 256n;

export interface Anchor {
  seq: bigint;
  hash: string;
}

/** Collects a verification's anchors as it walks the chain: every ANCHOR_INTERVAL-th row, then its head. */
export class AnchorCollector {
  readonly anchors: Anchor[] = [];

  verified(row: Anchor): void {
    if (row.seq % ANCHOR_INTERVAL === 0n) this.anchors.push(row);
  }

  /** The head the verification reached, when it verified intact. */
  reachedHead(head: Anchor): void {
    if (head.seq > 0n && this.anchors.at(-1)?.seq !== head.seq) this.anchors.push(head);
  }
}

/**
 * The first collected anchor whose seq an earlier verification anchored to another hash: the chain
 * verifies in itself but is not the chain that was verified before, it was rewritten since.
 */
export async function firstAnchorMismatch(db: Database, anchors: Anchor[]): Promise<(Anchor & { recorded: string; verifiedAt: Date }) | null> {
  if (anchors.length === 0) return null;
  const [mismatch] = await db.$queryRaw<{ seq: bigint; hash: string; recorded: string; verified_at: Date }[]>`
    SELECT a.seq, c.hash, a.hash AS recorded, v.verified_at
      FROM unnest(${anchors.map((anchor) => anchor.seq)}::bigint[], ${anchors.map((anchor) => anchor.hash)}::text[]) AS c(seq, hash)
      JOIN audit_verified_anchor a ON a.seq = c.seq
      JOIN audit_verification v ON v.id = a.verification_id
     WHERE a.hash <> c.hash
     ORDER BY a.seq LIMIT 1`;
  return mismatch ? { seq: mismatch.seq, hash: mismatch.hash, recorded: mismatch.recorded, verifiedAt: mismatch.verified_at } : null;
}

/** Records `anchors` for verification `verificationId`; a seq anchored before keeps its first hash. */
export async function recordAnchors(db: Database, verificationId: bigint, anchors: Anchor[]): Promise<void> {
  if (anchors.length === 0) return;
  await db.$executeRaw`
    INSERT INTO audit_verified_anchor (seq, hash, verification_id)
    SELECT seq, hash, ${verificationId} FROM unnest(${anchors.map((anchor) => anchor.seq)}::bigint[], ${anchors.map((anchor) => anchor.hash)}::text[]) AS c(seq, hash)
    ON CONFLICT (seq) DO NOTHING`;
}

export interface Inclusion {
  /** The anchor the row was proven against; null: integrated after the latest verification reached it. */
  anchor: { seq: bigint; verifiedAt: Date } | null;
  /** Null when the recomputation reached the anchor's hash. */
  problem: string | null;
}

interface ChainRow {
  seq: bigint;
  prev_hash: string | null;
  entry_hash: string | null;
  chain_version: number;
  /** Version 1 rows only: their hash covers their content. */
  content: (Omit<AuditContent, 'data' | 'occurredAt'> & { occurredAt: string; data: JsonValue }) | null;
}

/** Recomputes the chain from `rows[0]`'s prev_hash to `anchor`; why it does not reach the anchor's hash, or null. */
function walk(rows: ChainRow[], from: bigint, anchor: Anchor, verifiedAt: Date): string | null {
  if (rows[0]?.seq !== from || rows[0].prev_hash === null) return `row ${from} is missing or not linked (deleted)`;
  let previous = rows[0].prev_hash;
  let expected = from;
  for (const row of rows) {
    if (row.seq !== expected) return `row ${expected} between it and the verified hash at seq ${anchor.seq} is missing (deleted)`;
    if (row.chain_version === 1 && row.content) previous = nextChainHash(previous, { seq: row.seq, content: { ...row.content, occurredAt: new Date(row.content.occurredAt) } });
    else if (row.entry_hash) previous = nextChainHash(previous, { seq: row.seq, entryHash: row.entry_hash });
    else return `row ${row.seq} has no leaf hash`;
    expected += 1n;
  }
  if (expected !== anchor.seq + 1n) return `rows up to the verified hash at seq ${anchor.seq} are missing (deleted)`;
  if (previous !== anchor.hash) {
    return `recomputing the chain from it to seq ${anchor.seq} does not give the hash the verification of ${verifiedAt.toISOString()} vouched for: the chain was changed since`;
  }
  return null;
}

/**
 * Proves each integrated row at `seqs` against the nearest anchor at or after it. Rows under the
 * same anchor share one recomputation, from the lowest of them.
 */
export async function proveAgainstAnchors(db: Database, seqs: bigint[]): Promise<Map<bigint, Inclusion>> {
  const result = new Map<bigint, Inclusion>();
  if (seqs.length === 0) return result;
  const nearest = await db.$queryRaw<{ seq: bigint; anchor_seq: bigint | null; anchor_hash: string | null; verified_at: Date | null }[]>`
    SELECT s.seq, a.seq AS anchor_seq, a.hash AS anchor_hash, v.verified_at
      FROM unnest(${seqs}::bigint[]) AS s(seq)
      LEFT JOIN LATERAL (SELECT seq, hash, verification_id FROM audit_verified_anchor WHERE seq >= s.seq ORDER BY seq LIMIT 1) a ON true
      LEFT JOIN audit_verification v ON v.id = a.verification_id`;
  const groups = new Map<bigint, { anchor: Anchor; verifiedAt: Date; seqs: bigint[] }>();
  for (const row of nearest) {
    if (row.anchor_seq === null || row.anchor_hash === null || row.verified_at === null) {
      result.set(row.seq, { anchor: null, problem: null });
      continue;
    }
    const group = groups.get(row.anchor_seq) ?? { anchor: { seq: row.anchor_seq, hash: row.anchor_hash }, verifiedAt: row.verified_at, seqs: [] };
    group.seqs.push(row.seq);
    groups.set(row.anchor_seq, group);
  }
  for (const { anchor, verifiedAt, seqs: members } of groups.values()) {
    const from = members.reduce((low, seq) => (seq < low ? seq : low));
    // Leaf hashes only, and content only for version 1 rows: at most ANCHOR_INTERVAL small rows,
    // through the pg driver, which parses a thousand rows for a fraction of Prisma's CPU (decision 019).
    const rows = await sqlOf(db).query<Omit<ChainRow, 'seq'> & { seq: string }>(
      `SELECT seq, prev_hash, entry_hash, chain_version,
              CASE WHEN chain_version = 1 THEN jsonb_build_object('occurredAt', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'actor', actor, 'action', action, 'identityId', identity_id, 'eventId', event_id, 'system', system, 'data', data) END AS content
         FROM audit_event WHERE seq BETWEEN $1 AND $2 ORDER BY seq`,
      [from.toString(), anchor.seq.toString()],
    );
    const problem = walk(rows.map((row) => ({ ...row, seq: BigInt(row.seq) })), from, anchor, verifiedAt);
    for (const seq of members) result.set(seq, { anchor: { seq: anchor.seq, verifiedAt }, problem });
  }
  return result;
}
