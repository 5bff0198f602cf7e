// `jml audit verify|export`: check the hash chain, and hand an auditor the rows of a period.
import { once } from 'node:events';
import { open } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import { EXPORT_FORMATS, exportAudit, type ExportSink } from '../audit/export.js';
import { auditFilterSchema } from '../audit/query.js';
import { AuditIntegrator } from '../audit/integrator.js';
import { verifyAndRecord } from '../audit/chain-verifier.js';
import { GENESIS, type PendingRows } from '../audit/verify.js';
import { ArchiveError, archiveAudit, verifyArchiveFile } from '../audit/archive.js';
import { readBack, type CheckpointReader, type ReadBack } from '../audit/checkpoint.js';
import { checkCheckpoints, type CheckpointCheck } from '../audit/checkpoint-consistency.js';
import type { VerifierKey } from '../audit/signed-note.js';
import type { Output } from './events.js';

export const AUDIT_USAGE = `Usage: jml audit <action>
  jml audit verify [--json]
      integrate committed rows into the chain, then recompute every row's hashes and check the
      chain; names the first broken row (exit 1) and says how many rows still wait for integration;
      then checks the chain against every signed checkpoint in JML_CHECKPOINT_DIR and, when
      configured, the S3 bucket (JML_CHECKPOINT_S3_*) (exit 1 on a truncated tail, a rewritten
      chain, a checkpoint not signed by the trusted key, or a place that cannot be read)
  jml audit export --from <date> --to <date> [--format csv|json] [--out <file>]
                   [--identity <id or userName>] [--actor <name>] [--action <action or prefix*>] [--system <system>]
      rows with from <= occurred_at < to, in chain order (CSV with a header, or a JSON array)
  jml audit verify --archive <file>
      re-verify an archive file against its checkpoint (exit 1 when it does not match)
  jml audit archive --before <date> --out <dir> [--as <operator>]
      move rows that occurred before <date> to a JSONL file in <dir>, leaving a checkpoint that
      verification starts from; run with the database owner's credentials (it deletes rows)
  jml audit keygen --out <file> [--name <name>]
      a new checkpoint signing key in <file> (0600, never replaced) for JML_CHECKPOINT_KEY_FILE;
      prints its verifier key for auditors (no database needed)
Dates are ISO 8601: 2026-01-31 (midnight UTC) or 2026-01-31T12:00:00Z.
`;

export interface AuditArgs {
  action: string;
  from?: string;
  to?: string;
  format?: string;
  out?: string;
  identity?: string;
  actor?: string;
  system?: string;
  /** The --action filter (the subcommand is `action`). */
  actionFilter?: string;
  json?: boolean;
  before?: string;
  archive?: string;
  /** Who archives (recorded in the checkpoint and the chain). */
  by?: string;
  /** Where the signed checkpoints are read back from, and the key they must be signed with (null: none configured). */
  checkpoints?: { places: CheckpointReader[]; key: VerifierKey | null };
}

function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'operator';
  }
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const archiveArgsSchema = z.object({
  before: auditFilterSchema.shape.to.unwrap(),
  out: z.string({ error: 'the directory to write the archive file to' }).min(1),
});

const exportArgsSchema = auditFilterSchema.extend({
  from: auditFilterSchema.shape.from.unwrap(),
  to: auditFilterSchema.shape.to.unwrap(),
  format: z.enum(EXPORT_FORMATS).default('csv'),
});

const json = (value: unknown) => `${JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item), 2)}\n`;

async function verifyArchive(db: Database, args: AuditArgs, io: Output): Promise<number> {
  const name = path.basename(args.archive!);
  const checkpoint = await db.auditCheckpoint.findFirst({ where: { fileName: name } });
  if (!checkpoint) {
    io.err(`No checkpoint names ${name}: is it an archive of this database?\n`);
    return 1;
  }
  const previous = await db.auditCheckpoint.findFirst({ where: { seq: { lt: checkpoint.seq } }, orderBy: { seq: 'desc' } });
  const result = await verifyArchiveFile(args.archive!, previous ? { seq: previous.seq, hash: previous.hash } : GENESIS, checkpoint);
  if (args.json) io.out(json(result));
  else if (result.ok) io.out(`Archive ${name} intact: ${result.rowsChecked} rows verified up to its checkpoint at seq ${checkpoint.seq}.\n`);
  else io.out(`Archive ${name} BROKEN at seq ${result.firstBroken!.seq}: ${result.firstBroken!.reason}.\n`);
  return result.ok ? 0 : 1;
}

async function archive(db: Database, args: AuditArgs, io: Output): Promise<number> {
  const { before, out } = archiveArgsSchema.parse({ before: args.before, out: args.out });
  const result = await archiveAudit(db, { before, directory: out, by: args.by ?? operatorName() });
  if (result.archived === 0) io.out(`No audit rows before ${before.toISOString()} left to archive.\n`);
  else io.out(`Archived ${result.archived} audit rows (seq ${result.firstSeq}..${result.throughSeq}) to ${result.file} (sha256 ${result.fileSha256}).\nVerification now starts at seq ${result.throughSeq}; keep the file: \`jml audit verify --archive ${result.file}\` re-checks it.\n`);
  return 0;
}

function pendingLine(pending: PendingRows): string {
  if (pending.rows === 0) return 'Every committed row is integrated.\n';
  const age = pending.oldestAppendedAt ? ` (oldest appended ${pending.oldestAppendedAt.toISOString()})` : '';
  return `${pending.rows} committed rows are not integrated yet${age}: the chain does not cover them until the integrator links them.\n`;
}

function checkpointLines(check: CheckpointCheck | null, read: ReadBack | null, args: AuditArgs): string {
  if (!args.checkpoints) return '';
  if (!check || !read) {
    return `No signed checkpoints checked: no checkpoint key is configured (JML_CHECKPOINT_KEY or JML_CHECKPOINT_PUBLIC_KEY), so a deleted tail or a recomputed chain would not be detected.\n`;
  }
  const where = args.checkpoints.places.map((place) => place.description).join(' and ');
  const unreadable = read.unreadable.map(({ place, reason }) => `CHECKPOINTS UNREADABLE from ${place}: ${reason}.\n`).join('');
  const archived = check.archived > 0 ? ` (${check.archived} more cover archived rows: \`jml audit verify --archive <file>\` checks those)` : '';
  const latest = check.latest ? `; latest: seq ${check.latest.size}, signed ${check.latest.time.toISOString()}` : '';
  const summary = `Signed checkpoints in ${where}: ${check.signed} signed by ${args.checkpoints.key!.text}, ${check.compared} compared with the chain${archived}${latest}.\n${unreadable}`;
  if (check.signed === 0 && check.problems.length === 0) return `No signed checkpoints in ${where} yet: a deleted tail or a recomputed chain would not be detected.\n${unreadable}`;
  if (check.ok) return `${summary}The chain extends every one of them: no row they cover was changed, deleted or recomputed.\n`;
  return `${summary}CHECKPOINTS CONTRADICT THE CHAIN:\n${check.problems.map((problem) => `  ${problem.kind}: ${problem.message}.\n`).join('')}`;
}

async function verify(db: Database, args: AuditArgs, io: Output): Promise<number> {
  if (args.archive) return verifyArchive(db, args, io);
  // Link what has committed first, so the check covers every row written before it began; rows
  // that commit meanwhile are reported as pending (docs/decisions/016-audit-integration.md).
  await new AuditIntegrator({ db }).integrateAll();
  // Recorded, so that evidence cites it (decision 016).
  const result = await verifyAndRecord(db, 'jml audit verify');
  // The chain alone cannot show a deleted tail or a recomputed chain: signed checkpoints kept
  // outside the database can (docs/decisions/035-signed-checkpoints.md).
  // Every place that can be read back (the directory, the S3 bucket): a copy the attacker could
  // not reach still shows what they deleted from the others.
  const key = args.checkpoints?.key;
  const read = args.checkpoints && key ? await readBack(args.checkpoints.places) : null;
  const checkpoints = read && key ? await checkCheckpoints(db, read.published, key, result.head) : null;
  const ok = result.ok && (checkpoints?.ok ?? true) && (read?.unreadable.length ?? 0) === 0;
  if (args.json) {
    io.out(json({ ...result, ok, chainOk: result.ok, checkpoints: checkpoints && { ...checkpoints, unreadable: read?.unreadable ?? [] } }));
  } else if (result.ok) {
    io.out(`Audit chain intact: ${result.rowsChecked} rows verified, head at seq ${result.head.seq}, hash ${result.head.hash}.\n${pendingLine(result.pending)}${checkpointLines(checkpoints, read, args)}`);
  } else {
    io.out(`Audit chain BROKEN at seq ${result.firstBroken!.seq}: ${result.firstBroken!.reason}.\n${result.rowsChecked} rows before it verified.\n${pendingLine(result.pending)}${checkpointLines(checkpoints, read, args)}`);
  }
  return ok ? 0 : 1;
}

/** A file sink that waits for the stream to drain, so a large export never buffers in memory. */
async function fileSink(path: string): Promise<ExportSink & { close(): Promise<void> }> {
  // Opened here, not by the stream, so that an existing file is refused before anything is read.
  const stream = (await open(path, 'wx')).createWriteStream();
  return {
    async write(chunk) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    },
    async close() {
      stream.end();
      await once(stream, 'finish');
    },
  };
}

async function exportRows(db: Database, args: AuditArgs, io: Output): Promise<number> {
  const { format, ...filter } = exportArgsSchema.parse({
    from: args.from,
    to: args.to,
    format: args.format,
    identity: args.identity,
    actor: args.actor,
    action: args.actionFilter,
    system: args.system,
  });
  if (!args.out) {
    await exportAudit(db, filter, format, { write: (chunk) => io.out(chunk) });
    return 0;
  }
  const sink = await fileSink(args.out);
  try {
    const count = await exportAudit(db, filter, format, sink);
    io.err(`Exported ${count} audit rows to ${args.out}.\n`);
  } finally {
    await sink.close();
  }
  return 0;
}

/** Exit codes: 0 done (chain intact), 1 chain broken, 2 bad arguments. */
export async function auditCommand(db: Database, args: AuditArgs, io: Output = processOutput): Promise<number> {
  try {
    switch (args.action) {
      case 'verify':
        return await verify(db, args, io);
      case 'export':
        return await exportRows(db, args, io);
      case 'archive':
        return await archive(db, args, io);
      default:
        io.err(AUDIT_USAGE);
        return 2;
    }
  } catch (error) {
    if (error instanceof z.ZodError) {
      io.err(`Invalid arguments:\n${error.issues.map((issue) => `  --${String(issue.path[0] ?? 'arguments')}: ${issue.message}`).join('\n')}\n`);
      return 2;
    }
    if (error instanceof ArchiveError) {
      io.err(`${error.message}\n`);
      return 1;
    }
    if ((error as NodeJS.ErrnoException | null)?.code === 'EEXIST') {
      io.err(`${args.out} already exists: choose another --out file (an export never overwrites one).\n`);
      return 2;
    }
    throw error;
  }
}
