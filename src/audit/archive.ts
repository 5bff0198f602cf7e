// Retention (docs/decisions/010-audit-privileges-and-retention.md): rows older than a date leave
// the table for a JSONL file. The chain is verified first; the file's digest and the last archived
// row's hash are recorded as an append-only checkpoint, and the archiving itself is a row of the
// chain; only then are the rows removed, which the trigger allows for checkpointed rows alone.
// Verification of the table then starts at the checkpoint, and the file re-verifies on its own.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Database } from '../db/client.js';
import type { AuditEvent } from '../generated/prisma/client.js';
import { appendAudit } from './append.js';
import { AuditIntegrator } from './integrator.js';
import type { ChainedRow } from './chain.js';
import type { JsonValue } from './canonical.js';
import { GENESIS, isIntegrated, latestCheckpoint, rowHashProblem, verifyChain, type BrokenLink, type ChainStart } from './verify.js';

/**
 * One archived row per line: every field the hashes cover, seq as a string so it stays exact.
 * Version 2 rows (decision 016) add their leaf hash and `v: 2`; a line without `v` is version 1.
 */
type ArchivedRow = Omit<ChainedRow, 'seq' | 'occurredAt'> & { seq: string; occurredAt: string; hash: string; entryHash?: string; v?: 2 };

export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}

function archivedRow(row: AuditEvent): ArchivedRow {
  if (!isIntegrated(row)) throw new ArchiveError(`audit row ${row.id} is not integrated: it cannot be archived`);
  const version2 = row.chainVersion === 2 ? { entryHash: row.entryHash!, v: 2 as const } : {};
  return {
    seq: row.seq.toString(),
    occurredAt: row.occurredAt.toISOString(),
    actor: row.actor,
    action: row.action,
    identityId: row.identityId,
    eventId: row.eventId,
    system: row.system,
    data: row.data as JsonValue,
    prevHash: row.prevHash,
    hash: row.hash,
    ...version2,
  };
}

export interface ArchiveResult {
  archived: number;
  firstSeq?: bigint;
  throughSeq?: bigint;
  file?: string;
  fileSha256?: string;
}

/** Archives every row that occurred before `before`, up to the chain's head. */
export async function archiveAudit(db: Database, options: { before: Date; directory: string; by: string; batchSize?: number }): Promise<ArchiveResult> {
  // Only integrated rows can be archived: link what has committed first (decision 016).
  await new AuditIntegrator({ db }).integrateAll();
  const start = (await latestCheckpoint(db)) ?? GENESIS;
  const last = await db.auditEvent.findFirst({ where: { seq: { gt: start.seq }, occurredAt: { lt: options.before } }, orderBy: { seq: 'desc' } });
  if (!last || !isIntegrated(last)) return { archived: 0 };
  const check = await verifyChain(db, { start });
  if (!check.ok) throw new ArchiveError(`the audit chain is broken at seq ${check.firstBroken!.seq} (${check.firstBroken!.reason}): nothing archived`);

  const firstSeq = start.seq + 1n;
  const file = path.join(options.directory, `audit-${firstSeq}-${last.seq}.jsonl`);
  if (existsSync(file)) throw new ArchiveError(`${file} exists already: nothing archived`);
  await mkdir(options.directory, { recursive: true });
  const partial = `${file}.partial`;
  const handle = await open(partial, 'wx', 0o600);
  const digest = createHash('sha256');
  let count = 0;
  try {
    for (let after = start.seq; ; ) {
      const rows = await db.auditEvent.findMany({ where: { seq: { gt: after, lte: last.seq } }, orderBy: { seq: 'asc' }, take: options.batchSize ?? 1000 });
      if (rows.length === 0) break;
      const text = rows.map((row) => `${JSON.stringify(archivedRow(row))}\n`).join('');
      digest.update(text);
      await handle.write(text);
      count += rows.length;
      after = rows.at(-1)!.seq!;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, file);
  const fileSha256 = digest.digest('hex');

  await db.$transaction(async (tx) => {
    await tx.auditCheckpoint.create({
      data: { seq: last.seq, hash: last.hash, firstSeq, rows: BigInt(count), fileName: path.basename(file), fileSha256, archivedBy: options.by },
    });
    await tx.$queryRaw`SELECT set_config('jml.audit_archive_through', ${last.seq.toString()}, true)`;
    await tx.auditEvent.deleteMany({ where: { seq: { gte: firstSeq, lte: last.seq } } });
    await appendAudit(tx, [
      { actor: options.by, action: 'audit.archived', data: { firstSeq: firstSeq.toString(), throughSeq: last.seq.toString(), rows: count, file: path.basename(file), fileSha256 } },
    ]);
  }, { timeout: 120_000 });
  return { archived: count, firstSeq, throughSeq: last.seq, file, fileSha256 };
}

export interface ArchiveFileCheck {
  ok: boolean;
  rowsChecked: number;
  fileSha256: string;
  firstBroken?: BrokenLink;
}

/**
 * Re-verifies an archive file: each row's hash, the links from `start` (the checkpoint before it,
 * or the genesis), and, when `expected` is given, the file's digest and its last row against the
 * checkpoint that stands for it.
 */
export async function verifyArchiveFile(file: string, start: ChainStart, expected?: { seq: bigint; hash: string; fileSha256: string }): Promise<ArchiveFileCheck> {
  const digest = createHash('sha256');
  let previous = start;
  let rowsChecked = 0;
  let firstBroken: BrokenLink | undefined;
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    digest.update(`${line}\n`);
    if (firstBroken || line.trim() === '') continue;
    const row = JSON.parse(line) as ArchivedRow;
    const seq = BigInt(row.seq);
    const hashed = { ...row, seq, occurredAt: new Date(row.occurredAt), entryHash: row.entryHash ?? null, chainVersion: row.v ?? 1 };
    const own = seq === previous.seq + 1n ? rowHashProblem(hashed) : null;
    if (seq !== previous.seq + 1n) firstBroken = { seq: previous.seq + 1n, reason: `gap or reordering in the archive at seq ${seq}` };
    else if (own) firstBroken = { seq, reason: own };
    else if (row.prevHash !== previous.hash) firstBroken = { seq, reason: "prev_hash does not match the previous row's hash" };
    else {
      rowsChecked++;
      previous = { seq, hash: row.hash };
    }
  }
  const fileSha256 = digest.digest('hex');
  if (!firstBroken && expected) {
    if (fileSha256 !== expected.fileSha256) firstBroken = { seq: expected.seq, reason: "the file's sha256 differs from its checkpoint's" };
    else if (previous.seq !== expected.seq || previous.hash !== expected.hash) firstBroken = { seq: expected.seq, reason: 'the file does not end at its checkpoint' };
  }
  return { ok: !firstBroken, rowsChecked, fileSha256, ...(firstBroken ? { firstBroken } : {}) };
}
