// `jml verify-bundle <file> [--key <verifier key or file>]`: checks an evidence bundle offline, with
// no database and no configuration, and says what it proves (src/audit/bundle.ts).
import { existsSync, readFileSync } from 'node:fs';
import { bundleVerdict, verifyBundle } from '../audit/bundle-verify.js';
import { parseVerifierKey, SignedNoteError } from '../audit/signed-note.js';
import type { Output } from './events.js';

export const VERIFY_BUNDLE_USAGE = `Usage: jml verify-bundle <bundle.zip> [--key <verifier key, or a file holding it>] [--json]
  Checks an evidence bundle without a database. Give the organisation's published verifier key
  with --key; without it the key inside the bundle is used and the result says so.
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes: 0 the bundle verifies, 1 it does not, 2 bad arguments. */
export function verifyBundleCommand(args: { file?: string; key?: string; json?: boolean }, io: Output = processOutput): number {
  if (!args.file) {
    io.err(VERIFY_BUNDLE_USAGE);
    return 2;
  }
  let zip: Buffer;
  try {
    zip = readFileSync(args.file);
  } catch (error) {
    io.err(`${args.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).\n`);
    return 2;
  }
  let key;
  if (args.key) {
    try {
      key = parseVerifierKey(existsSync(args.key) ? readFileSync(args.key, 'utf8') : args.key);
    } catch (error) {
      if (!(error instanceof SignedNoteError)) throw error;
      io.err(`--key: ${error.message}\n`);
      return 2;
    }
  }
  const result = verifyBundle(zip, key);
  io.out(args.json ? `${JSON.stringify(result, (_name, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)}\n` : bundleVerdict(result));
  return result.ok ? 0 : 1;
}
