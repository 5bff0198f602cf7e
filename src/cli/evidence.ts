// `jml evidence <userName or id>`: one person's whole story, for an auditor (src/audit/evidence.ts).
import { open } from 'node:fs/promises';
import type { Database } from '../db/client.js';
import { buildBundle, type BundleSource } from '../audit/bundle.js';
import { BundleError } from '../audit/bundle-verify.js';
import { buildEvidence, evidenceJson, evidenceText, PersonNotFound } from '../audit/evidence.js';
import type { Output } from './events.js';

export const EVIDENCE_USAGE = `Usage: jml evidence <userName or SCIM id> [--format text|json] [--bundle <out.zip>]
  --bundle writes a signed evidence bundle (the report, the audit rows, their proof under the signed
  checkpoints, the public key) that \`jml verify-bundle\` checks offline; needs the checkpoint key
`;

async function writeBundle(db: Database, subject: string, file: string, source: BundleSource, io: Output): Promise<number> {
  if (!source.key) {
    io.err('A bundle is signed with the checkpoint key: set JML_CHECKPOINT_KEY (or _FILE), or run where `npm start` keeps it (JML_DATA_DIR).\n');
    return 2;
  }
  const { zip, manifest } = await buildBundle(db, subject, { key: source.key, directory: source.directory });
  // 'wx': a bundle never overwrites a file; fsynced, it is evidence.
  const handle = await open(file, 'wx', 0o644);
  try {
    await handle.writeFile(zip);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const uncovered = manifest.uncovered.length > 0 ? ` ${manifest.uncovered.length} of the person's rows are not under a checkpoint yet (the next one comes within a minute).` : '';
  io.out(`Wrote ${file} (${zip.length} bytes): ${manifest.segments.length} chain segment(s) up to signed checkpoints.${uncovered}\nAn auditor checks it with: npx jml verify-bundle ${file} --key '${source.key.text}'\n`);
  return 0;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes: 0 the report (even when its rows fail verification: the report says so), 1 nobody by that name, 2 bad arguments. */
export async function evidenceCommand(db: Database, args: { subject?: string; format?: string; bundle?: string; bundleSource?: BundleSource }, io: Output = processOutput): Promise<number> {
  const format = args.format ?? 'text';
  if (!args.subject || (format !== 'text' && format !== 'json')) {
    io.err(EVIDENCE_USAGE);
    return 2;
  }
  try {
    if (args.bundle) return await writeBundle(db, args.subject, args.bundle, args.bundleSource!, io);
    const report = await buildEvidence(db, args.subject);
    io.out(format === 'json' ? `${JSON.stringify(evidenceJson(report), null, 2)}\n` : evidenceText(report));
    return 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException | null)?.code === 'EEXIST') {
      io.err(`${args.bundle} already exists: choose another --bundle file (a bundle never overwrites one).\n`);
      return 2;
    }
    if (!(error instanceof PersonNotFound) && !(error instanceof BundleError)) throw error;
    io.err(`${error.message}\n`);
    return 1;
  }
}
