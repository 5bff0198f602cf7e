// What an evidence bundle is (its manifest, rows and segments; docs/decisions/036-evidence-bundles.md)
// and how an auditor checks one offline (`jml verify-bundle`): no database, configuration or
// network, so the command loads only this, the chain's hashing, the ZIP reader and the signed-note
// format (issue 17: the CLI answers in about a second; test/cli/import-graph.test.ts). The bundle
// itself is built from the database by src/audit/bundle.ts.
import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from './canonical.js';
import { entryHash, nextChainHash, type AuditContent } from './chain.js';
import { openCheckpoint, type Checkpoint } from './checkpoint-format.js';
import { readCanonicalZip, type ZipEntry } from './bundle-zip.js';
import type { AuditRowView } from './query.js';
import { openNote, parseVerifierKey, SignedNoteError, type VerifierKey } from './signed-note.js';

export const BUNDLE_FORMAT = 'jml-evidence-bundle/1';
/** The first line of the signed manifest: it can never be read as a checkpoint (whose second line is a number). */
export const MANIFEST_HEADER = 'jml evidence bundle manifest v1';

/** One row of the chain in rows.jsonl. Version 2 rows carry their leaf hash only; version 1 rows' hash covers their content. */
export interface BundleRow {
  seq: string;
  entryHash?: string;
  v?: 1;
  content?: Omit<AuditContent, 'occurredAt'> & { occurredAt: string };
}

export interface Segment {
  /** The first row (a row of the person's), the hash it links onto, the checkpoint it ends at. */
  fromSeq: string;
  prevHash: string;
  throughSeq: string;
  checkpoint: string;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  subject: string;
  generatedAt: string;
  /** The log (the signing key's name) and its verifier key. */
  log: string;
  publicKey: string;
  /** sha256 of every other file in the bundle. */
  files: Record<string, string>;
  segments: Segment[];
  /** The person's rows no published checkpoint covers yet (seq null: not yet integrated). */
  uncovered: { id: number; seq: number | null }[];
}

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export function contentOf(row: { occurredAt: Date | string; actor: string; action: string; identityId: string | null; eventId: string | null; system: string | null; data: unknown }): AuditContent {
  return { occurredAt: new Date(row.occurredAt), actor: row.actor, action: row.action, identityId: row.identityId, eventId: row.eventId, system: row.system, data: row.data as JsonValue };
}

export interface BundleVerification {
  ok: boolean;
  /** What failed, each naming the file and what was wrong. */
  problems: string[];
  /** Whose key: given by the auditor, or only the one inside the bundle. */
  keySource: 'given' | 'bundle';
  publicKey: string | null;
  subject: string | null;
  generatedAt: string | null;
  rowsProven: number;
  rowsUncovered: number;
  /** The checkpoints the proven rows are under, latest last. */
  checkpoints: Checkpoint[];
}

function parseManifest(note: string, key: VerifierKey): BundleManifest {
  const text = openNote(note, key);
  const [header, body] = text.split('\n');
  if (header !== MANIFEST_HEADER || !body) throw new BundleError('manifest.txt is not a jml bundle manifest');
  const manifest = JSON.parse(body) as { format?: unknown };
  if (manifest.format !== BUNDLE_FORMAT) throw new BundleError(`manifest.txt is of format ${String(manifest.format)}, not ${BUNDLE_FORMAT}`);
  return manifest as BundleManifest;
}

/** Recomputes each segment from its first row to its checkpoint's head; the leaf hash per seq of the rows passed. */
function walkSegments(manifest: BundleManifest, rows: BundleRow[], checkpoints: Map<string, Checkpoint>, problems: string[]): Map<string, BundleRow> {
  const bySeq = new Map(rows.map((row) => [row.seq, row]));
  const proven = new Map<string, BundleRow>();
  for (const segment of manifest.segments) {
    const checkpoint = checkpoints.get(segment.checkpoint);
    if (!checkpoint) {
      problems.push(`segment ${segment.fromSeq}..${segment.throughSeq}: its checkpoint ${segment.checkpoint} does not verify`);
      continue;
    }
    let previous = segment.prevHash;
    let broken: string | null = null;
    const covered: BundleRow[] = [];
    for (let seq = BigInt(segment.fromSeq); seq <= BigInt(segment.throughSeq) && !broken; seq++) {
      const row = bySeq.get(seq.toString());
      if (!row) broken = `row ${seq} is missing from rows.jsonl`;
      else if (row.v === 1 && row.content) previous = nextChainHash(previous, { seq, content: contentOf(row.content) });
      else if (row.entryHash && /^[0-9a-f]{64}$/.test(row.entryHash)) previous = nextChainHash(previous, { seq, entryHash: row.entryHash });
      else broken = `row ${seq} in rows.jsonl has neither a leaf hash nor content`;
      if (row) covered.push(row);
    }
    if (!broken && (BigInt(segment.throughSeq) !== checkpoint.size || previous !== checkpoint.hash)) {
      broken = `recomputing rows ${segment.fromSeq}..${segment.throughSeq} gives ${previous}, not the head ${checkpoint.hash} that checkpoint ${checkpoint.size} signed`;
    }
    if (broken) problems.push(`segment ${segment.fromSeq}..${segment.throughSeq}: ${broken}`);
    else for (const row of covered) proven.set(row.seq, row);
  }
  return proven;
}

/** The person's rows (from evidence.json) against the proven chain: each must hash to the leaf at its seq. */
function checkPersonRows(evidence: { people: { audit: AuditRowView[] }[] }, proven: Map<string, BundleRow>, problems: string[]): { proven: number; uncovered: number } {
  let count = 0;
  let uncovered = 0;
  for (const row of evidence.people.flatMap((person) => person.audit)) {
    const link = row.seq === null ? undefined : proven.get(String(row.seq));
    if (!link) {
      uncovered++;
      continue;
    }
    const content = contentOf(row);
    const matches = link.v === 1 ? canonicalJson(contentOf(link.content!)) === canonicalJson(content) : entryHash(content) === link.entryHash;
    if (matches) count++;
    else problems.push(`evidence.json: audit row ${row.seq} (${row.action}) does not hash to the leaf the chain holds at its seq: its content was changed`);
  }
  return { proven: count, uncovered };
}

/** Checks a bundle without a database. `trusted`: the verifier key the auditor obtained on their own. */
export function verifyBundle(zip: Buffer, trusted?: VerifierKey): BundleVerification {
  const result: BundleVerification = { ok: false, problems: [], keySource: trusted ? 'given' : 'bundle', publicKey: trusted?.text ?? null, subject: null, generatedAt: null, rowsProven: 0, rowsUncovered: 0, checkpoints: [] };
  const fail = (problem: string) => ({ ...result, problems: [...result.problems, problem] });
  let entries: ZipEntry[];
  try {
    entries = readCanonicalZip(zip);
  } catch (error) {
    return fail((error as Error).message);
  }
  const files = new Map(entries.map((entry) => [entry.name, entry.data]));
  const text = (name: string) => files.get(name)?.toString('utf8');
  let key = trusted;
  try {
    key ??= parseVerifierKey(text('public-key.txt') ?? '');
  } catch (error) {
    return fail(`public-key.txt: ${(error as Error).message}`);
  }
  result.publicKey = key.text;
  let manifest: BundleManifest;
  try {
    manifest = parseManifest(text('manifest.txt') ?? '', key);
  } catch (error) {
    if (error instanceof SignedNoteError || error instanceof BundleError || error instanceof SyntaxError) return fail(`manifest.txt: ${error.message}`);
    throw error;
  }
  result.subject = manifest.subject;
  result.generatedAt = manifest.generatedAt;
  const problems = result.problems;
  for (const [name, data] of files) {
    if (name === 'manifest.txt') continue;
    if (!(name in manifest.files)) problems.push(`${name} is not listed in the signed manifest: it was added`);
    else if (sha256(data) !== manifest.files[name]) problems.push(`${name} differs from the sha256 the signed manifest lists: it was changed`);
  }
  for (const name of Object.keys(manifest.files)) if (!files.has(name)) problems.push(`${name} is listed in the signed manifest but missing: it was removed`);

  const checkpoints = new Map<string, Checkpoint>();
  for (const segment of manifest.segments) {
    try {
      checkpoints.set(segment.checkpoint, openCheckpoint(text(segment.checkpoint) ?? '', key));
    } catch (error) {
      problems.push(`${segment.checkpoint}: ${(error as Error).message}`);
    }
  }
  try {
    const rows = (text('rows.jsonl') ?? '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as BundleRow);
    const proven = walkSegments(manifest, rows, checkpoints, problems);
    const counts = checkPersonRows(JSON.parse(text('evidence.json') ?? '') as { people: { audit: AuditRowView[] }[] }, proven, problems);
    result.rowsProven = counts.proven;
    result.rowsUncovered = counts.uncovered;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    problems.push(`rows.jsonl or evidence.json is not valid JSON: ${error.message}`);
  }
  result.checkpoints = [...checkpoints.values()].sort((a, b) => (a.size < b.size ? -1 : 1));
  return { ...result, ok: problems.length === 0 };
}

/** What `jml verify-bundle` prints: the verdict, then exactly what it proves and what it does not. */
export function bundleVerdict(result: BundleVerification): string {
  const lines: string[] = [];
  if (!result.ok) {
    lines.push('BUNDLE DOES NOT VERIFY:', ...result.problems.map((problem) => `  - ${problem}`), '', 'Nothing in it can be relied on.');
    return `${lines.join('\n')}\n`;
  }
  const latest = result.checkpoints.at(-1);
  lines.push(
    `Bundle verified: evidence for "${result.subject}", generated ${result.generatedAt}.`,
    `Signing key: ${result.publicKey}`,
    result.keySource === 'given'
      ? '  (the key you gave with --key)'
      : '  WARNING: this key was read from the bundle itself. Compare it with the key the organisation publishes, or run again with --key <verifier key>: anyone can make a bundle that verifies against its own key.',
    '',
    'What this proves:',
    '  - every file in the bundle is exactly as jml signed it (a signed manifest lists each file\'s sha256; the ZIP\'s own bytes are checked too);',
    `  - ${result.rowsProven} of the person's audit rows were in jml's hash chain, at the seq shown, with exactly this content, no later than the signed checkpoints that cover them (${result.checkpoints.length} checkpoint(s)${latest ? `, latest seq ${latest.size} signed ${latest.time.toISOString()}` : ''}): the chain from each row to a checkpoint's signed head was recomputed;`,
    '  - whoever held the signing key vouched for those checkpoints: jml signs only heads that extend its previous checkpoints.',
    '',
    'What this does not prove:',
    `  - rows not yet under a checkpoint when the bundle was made (${result.rowsUncovered} of the person's rows): they are in the report, not proven;`,
    '  - that no row about the person is missing: a hash chain proves what is included, not that nothing else exists;',
    '  - the lifecycle events and outcomes in evidence.txt beyond jml\'s signature: they are jml\'s state when the bundle was made, not rows of the chain;',
    '  - that the downstream systems really did what they answered: see each outcome\'s "proof" line (a read-back proves more than an accepted call);',
    '  - that the chain was not rewritten after the checkpoints: `jml audit verify` against the published checkpoints shows that, with database access.',
  );
  return `${lines.join('\n')}\n`;
}
