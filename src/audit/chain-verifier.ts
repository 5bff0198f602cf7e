// Verification of the whole audit chain, recorded (docs/decisions/016-audit-integration.md).
// Evidence about one person checks that person's rows and cites the latest recorded verification
// of the whole chain, instead of re-verifying millions of rows per request. The server's
// ChainVerifier verifies in the background: the whole chain when it starts, then every minute only
// the rows integrated since the last good verification, starting from that verification's seq and
// hash. That start works like an archive checkpoint: a row rewritten below it (its hashes
// recomputed to the head) no longer links to the recorded hash. An edit in place below it is
// found by the next full verification: each start, and every `jml audit verify`. A verification
// that finds the chain intact records anchors (anchors.ts, decision 039): the hashes it vouched for
// every 256 rows, which evidence proves one person's rows against.
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { AnchorCollector, firstAnchorMismatch, recordAnchors, type Anchor } from './anchors.js';
import { PeriodicPass } from './periodic.js';
import { GENESIS, latestCheckpoint, verifyChain, type BrokenLink, type ChainStart, type VerifyResult } from './verify.js';

export interface RecordedVerification {
  verifiedAt: Date;
  /** The rows checked were fromSeq+1..throughSeq; an ok verification vouches for the chain up to throughSeq. */
  fromSeq: bigint;
  throughSeq: bigint;
  throughHash: string;
  rowsChecked: bigint;
  ok: boolean;
  firstBroken: BrokenLink | null;
  /** Rows not yet integrated when it ran. */
  pendingRows: number;
  verifiedBy: string;
}

export async function latestVerification(db: Database): Promise<RecordedVerification | null> {
  const row = await db.auditVerification.findFirst({ orderBy: { id: 'desc' } });
  if (!row) return null;
  return {
    verifiedAt: row.verifiedAt,
    fromSeq: row.fromSeq,
    throughSeq: row.throughSeq,
    throughHash: row.throughHash,
    rowsChecked: row.rowsChecked,
    ok: row.ok,
    firstBroken: row.brokenSeq === null ? null : { seq: row.brokenSeq, reason: row.reason ?? '' },
    pendingRows: row.pendingRows,
    verifiedBy: row.verifiedBy,
  };
}

/** Records a verification, and the anchors it vouched for when it verified intact. */
export async function recordVerification(db: Database, start: ChainStart, result: VerifyResult, verifiedBy: string, anchors: Anchor[] = []): Promise<void> {
  const { id } = await db.auditVerification.create({
    data: {
      fromSeq: start.seq,
      throughSeq: result.head.seq,
      throughHash: result.head.hash,
      rowsChecked: BigInt(result.rowsChecked),
      ok: result.ok,
      brokenSeq: result.firstBroken?.seq ?? null,
      reason: result.firstBroken?.reason ?? null,
      pendingRows: result.pending.rows,
      verifiedBy,
    },
    select: { id: true },
  });
  if (result.ok) await recordAnchors(db, id, anchors);
}

/**
 * Verifies from `start` to the head, collecting anchors; a chain that verifies in itself but whose
 * hash at an anchored seq differs from the one an earlier verification recorded was rewritten
 * wholesale since (every hash recomputed), and is reported broken there.
 */
async function verifyAnchored(db: Database, start: ChainStart): Promise<{ result: VerifyResult; anchors: Anchor[] }> {
  const collector = new AnchorCollector();
  const result = await verifyChain(db, { start, onVerified: (row) => collector.verified(row) });
  if (!result.ok) return { result, anchors: [] };
  collector.reachedHead(result.head);
  const mismatch = await firstAnchorMismatch(db, collector.anchors);
  if (!mismatch) return { result, anchors: collector.anchors };
  const reason = `row ${mismatch.seq}'s hash is not the one the verification of ${mismatch.verifiedAt.toISOString()} vouched for (${mismatch.recorded}): the chain was rewritten since, its hashes recomputed`;
  return { result: { ...result, ok: false, firstBroken: { seq: mismatch.seq, reason } }, anchors: [] };
}

/** Where a full verification starts: the latest archive checkpoint, or the genesis. */
async function fullStart(db: Database): Promise<ChainStart> {
  return (await latestCheckpoint(db)) ?? GENESIS;
}

/** Verifies the whole chain (from the latest archive checkpoint) and records the result. */
export async function verifyAndRecord(db: Database, verifiedBy: string): Promise<VerifyResult> {
  const start = await fullStart(db);
  const { result, anchors } = await verifyAnchored(db, start);
  await recordVerification(db, start, result, verifiedBy, anchors);
  return result;
}

export interface ChainVerifierOptions {
  db: Database;
  intervalMs?: number;
  logger?: Logger;
}

export class ChainVerifier {
  private verifiedFully = false;
  private readonly loop: PeriodicPass;

  constructor(private readonly options: ChainVerifierOptions) {
    this.loop = new PeriodicPass(
      async () => {
        await this.verifyOnce({ full: !this.verifiedFully });
        this.verifiedFully = true;
      },
      options.intervalMs ?? 60_000,
      (error) => options.logger?.warn({ err: error }, 'audit chain verification failed; retrying'),
    );
  }

  /**
   * One verification: the whole chain when `full` (or when none was recorded yet), else the rows
   * after the latest good verification. Records it unless nothing new was integrated since.
   */
  async verifyOnce(options: { full?: boolean } = {}): Promise<RecordedVerification | null> {
    const { db } = this.options;
    const last = await latestVerification(db);
    const checkpoint = await fullStart(db);
    const lastGood = await db.auditVerification.findFirst({ where: { ok: true }, orderBy: { id: 'desc' } });
    const incremental = !options.full && lastGood !== null && lastGood.throughSeq >= checkpoint.seq;
    const start = incremental ? { seq: lastGood.throughSeq, hash: lastGood.throughHash } : checkpoint;
    const head = await db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } });
    if (incremental && last?.ok && head.seq === last.throughSeq) return last;
    const { result, anchors } = await verifyAnchored(db, start);
    await recordVerification(db, start, result, 'background', anchors);
    if (!result.ok) this.options.logger?.error({ firstBroken: { seq: result.firstBroken!.seq.toString(), reason: result.firstBroken!.reason } }, 'the audit chain does not verify');
    return latestVerification(db);
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
