// Signed evidence bundles (docs/decisions/036-evidence-bundles.md): one person's evidence, the audit
// rows behind it, the proof that those rows are in the chain under signed checkpoints, and the
// public key, in one ZIP an auditor verifies offline with `jml verify-bundle` (src/audit/bundle-verify.ts,
// which also defines the format).
//
// The inclusion proof for a hash chain: from each of the person's rows to the first checkpoint at or
// after it, the other rows' leaf hashes (their content stays out: it is other people's data), so
// the verifier recomputes the chain from that row to the checkpoint's signed head. Checkpoints come
// at least once a minute while the chain moves, so a segment spans about a minute of audit rows,
// whatever the age of the row: the bundle grows with the person, not with the trail.
import type { Database } from '../db/client.js';
import { BUNDLE_FORMAT, BundleError, contentOf, MANIFEST_HEADER, sha256, type BundleManifest, type BundleRow, type Segment } from './bundle-verify.js';
import { checkpointFileName, openCheckpoint, readPublishedCheckpoints, type Checkpoint } from './checkpoint.js';
import { writeZip, type ZipEntry } from './bundle-zip.js';
import { buildEvidence, evidenceJson, evidenceText, type EvidenceReport } from './evidence.js';
import { signNote, type SignerKey } from './signed-note.js';

/** Where bundles get their key and checkpoints from. */
export interface BundleSource {
  /** The checkpoint signing key (null: none configured here). */
  key: SignerKey | null;
  /** The checkpoint directory. */
  directory: string;
}

const ndjson = (rows: unknown[]) => rows.map((row) => `${JSON.stringify(row)}\n`).join('');

/** A bundle's file name: the person's name where it is safe in a file name. */
export function bundleFileName(subject: string, now: Date = new Date()): string {
  return `evidence-${subject.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80)}-${now.toISOString().slice(0, 10)}.zip`;
}

/** The bundle for `subject`, signed with `key`, its rows proven against the checkpoints in `directory`. */
export async function buildBundle(db: Database, subject: string, options: { key: SignerKey; directory: string; now?: Date }): Promise<{ zip: Buffer; report: EvidenceReport; manifest: BundleManifest }> {
  const report = await buildEvidence(db, subject, options.now);
  const checkpoints: { file: string; note: string; checkpoint: Checkpoint }[] = [];
  for (const { note } of await readPublishedCheckpoints(options.directory)) {
    try {
      const checkpoint = openCheckpoint(note, options.key);
      checkpoints.push({ file: `checkpoints/${checkpointFileName(checkpoint.size)}`, note, checkpoint });
    } catch {
      // Not ours or altered: `jml audit verify` reports it; it proves nothing here.
    }
  }
  checkpoints.sort((a, b) => (a.checkpoint.size < b.checkpoint.size ? -1 : 1));

  const personRows = report.people.flatMap((person) => person.audit);
  const uncovered: BundleManifest['uncovered'] = [];
  // Each checkpoint used, with the lowest of the person's seqs it covers.
  const firstUnder = new Map<number, bigint>();
  for (const row of personRows) {
    const index = row.seq === null ? -1 : checkpoints.findIndex(({ checkpoint }) => checkpoint.size >= BigInt(row.seq!));
    if (index < 0) {
      uncovered.push({ id: row.id, seq: row.seq });
      continue;
    }
    const seq = BigInt(row.seq!);
    const before = firstUnder.get(index);
    if (before === undefined || seq < before) firstUnder.set(index, seq);
  }

  const segments: Segment[] = [];
  const rows: BundleRow[] = [];
  const usedCheckpoints: ZipEntry[] = [];
  for (const [index, fromSeq] of [...firstUnder.entries()].sort(([a], [b]) => a - b)) {
    const { checkpoint, file, note } = checkpoints[index]!;
    const chain = await db.auditEvent.findMany({ where: { seq: { gte: fromSeq, lte: checkpoint.size } }, orderBy: { seq: 'asc' } });
    if (chain.length === 0 || chain[0]!.seq !== fromSeq || chain.at(-1)!.seq !== checkpoint.size) {
      throw new BundleError(`rows ${fromSeq}..${checkpoint.size} are not all in the table (archived or deleted): run \`jml audit verify\``);
    }
    segments.push({ fromSeq: fromSeq.toString(), prevHash: chain[0]!.prevHash!, throughSeq: checkpoint.size.toString(), checkpoint: file });
    for (const row of chain) {
      rows.push(row.chainVersion === 1 ? { seq: row.seq!.toString(), v: 1, content: { ...contentOf(row), occurredAt: row.occurredAt.toISOString() } } : { seq: row.seq!.toString(), entryHash: row.entryHash! });
    }
    usedCheckpoints.push({ name: file, data: Buffer.from(note, 'utf8') });
  }

  const files: ZipEntry[] = [
    { name: 'README.txt', data: Buffer.from(BUNDLE_README, 'utf8') },
    { name: 'evidence.txt', data: Buffer.from(evidenceText(report), 'utf8') },
    { name: 'evidence.json', data: Buffer.from(`${JSON.stringify(evidenceJson(report), null, 2)}\n`, 'utf8') },
    { name: 'rows.jsonl', data: Buffer.from(ndjson(rows), 'utf8') },
    { name: 'public-key.txt', data: Buffer.from(`${options.key.text}\n`, 'utf8') },
    ...usedCheckpoints,
  ];
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    subject,
    generatedAt: report.generatedAt,
    log: options.key.name,
    publicKey: options.key.text,
    files: Object.fromEntries(files.map((file) => [file.name, sha256(file.data)])),
    segments,
    uncovered,
  };
  const signed = signNote(`${MANIFEST_HEADER}\n${JSON.stringify(manifest)}\n`, options.key);
  return { zip: writeZip([{ name: 'manifest.txt', data: Buffer.from(signed, 'utf8') }, ...files]), report, manifest };
}

const BUNDLE_README = `jml evidence bundle (${BUNDLE_FORMAT})

manifest.txt     a signed note (C2SP signed-note, Ed25519) listing the sha256 of every other file,
                 the chain segments that prove the audit rows, and the rows not yet covered
evidence.txt     the person's story, as jml reported it
evidence.json    the same as JSON, with every audit row's content and hashes
rows.jsonl       the audit chain from each of the person's rows to a signed checkpoint: other
                 rows appear as leaf hashes only (their content is other people's)
checkpoints/     the signed checkpoints (C2SP tlog-checkpoint text) the segments end at
public-key.txt   the verifier key (Go sumdb/note form); compare it with the one published to you

Verify offline:  npx jml verify-bundle <this file> --key '<verifier key>'
It prints what the bundle proves and what it does not.
`;
