// `jml audit keygen --out <file> [--name <name>]`: a checkpoint signing key for production
// (JML_CHECKPOINT_KEY_FILE, decision 035), made without a database and without Go. The private
// key goes only to the file (0600, never overwritten); the verifier key, which auditors get, is
// printed.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { generateSignerKey, parseSignerKey, SignedNoteError } from '../audit/signed-note.js';
import type { Output } from './events.js';

export const KEYGEN_USAGE = `Usage: jml audit keygen --out <file> [--name <name>]
  writes a new Ed25519 checkpoint signing key to <file> (mode 0600; an existing file is never
  replaced) for JML_CHECKPOINT_KEY_FILE, and prints its verifier key for JML_CHECKPOINT_PUBLIC_KEY
  and for auditors. <name> defaults to jml-audit/<random>; it names the log in every signature.
`;

export function keygenCommand(args: { out?: string; name?: string }, io: Output): number {
  if (!args.out) {
    io.err(KEYGEN_USAGE);
    return 2;
  }
  let text: string;
  try {
    text = `${generateSignerKey(args.name ?? `jml-audit/${randomBytes(8).toString('hex')}`)}\n`;
  } catch (error) {
    if (!(error instanceof SignedNoteError)) throw error;
    io.err(`--name: ${error.message}\n`);
    return 2;
  }
  let fd: number;
  try {
    // 'wx': a key already in use is never replaced by accident (its checkpoints would stop verifying).
    fd = openSync(args.out, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOENT' && code !== 'EACCES') throw error;
    io.err(code === 'EEXIST' ? `${args.out} exists; jml never replaces a signing key. Choose another file.\n` : `Cannot create ${args.out} (${code}).\n`);
    return 1;
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const key = parseSignerKey(text);
  io.err(`Wrote the signing key to ${args.out} (mode 0600): mount it as JML_CHECKPOINT_KEY_FILE, keep it out of the database and its backups.\nThe verifier key (JML_CHECKPOINT_PUBLIC_KEY; give it to auditors):\n`);
  io.out(`${key.text}\n`);
  return 0;
}
