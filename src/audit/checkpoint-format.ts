// The checkpoint's text and its signature (docs/decisions/035-signed-checkpoints.md; the layout is
// drawn in src/audit/checkpoint.ts's header): made, signed, parsed and opened with no configuration,
// database or network, so that `jml verify-bundle` checks a bundle's checkpoints offline and loads
// only this and src/audit/signed-note.ts (issue 17: the CLI answers in about a second).
import { openNote, signNote, type SignerKey, type VerifierKey } from './signed-note.js';

export interface Checkpoint {
  origin: string;
  /** The chain's seq at the head: rows 1..size are committed to by `hash`. */
  size: bigint;
  /** The head's hash, hex as the chain stores it. */
  hash: string;
  time: Date;
}

export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

/** The note text (unsigned). */
export function checkpointText(checkpoint: Checkpoint): string {
  if (!/^[0-9a-f]{64}$/.test(checkpoint.hash)) throw new CheckpointError(`"${checkpoint.hash}" is not a sha256 hash`);
  return `${checkpoint.origin}\n${checkpoint.size}\n${Buffer.from(checkpoint.hash, 'hex').toString('base64')}\ntime ${checkpoint.time.toISOString()}\n`;
}

export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split('\n');
  const [origin = '', size = '', root = '', ...extensions] = lines;
  // tlog-checkpoint: origin non-empty; size decimal without leading zeroes; root base64.
  if (origin === '' || !/^(0|[1-9][0-9]{0,18})$/.test(size)) throw new CheckpointError('not a checkpoint: the origin or the tree size line is wrong');
  const hash = Buffer.from(root, 'base64');
  if (hash.length !== 32 || hash.toString('base64') !== root) throw new CheckpointError('not a checkpoint: the third line is not a base64 sha256 hash');
  const time = extensions.find((line) => line.startsWith('time '))?.slice(5);
  const parsed = time ? new Date(time) : null;
  if (!parsed || Number.isNaN(parsed.getTime())) throw new CheckpointError('not a jml checkpoint: it has no "time" line');
  return { origin, size: BigInt(size), hash: hash.toString('hex'), time: parsed };
}

export function signCheckpoint(checkpoint: Omit<Checkpoint, 'origin'>, key: SignerKey): string {
  // tlog-checkpoint: the log's key name should match the origin; ours is the origin.
  return signNote(checkpointText({ ...checkpoint, origin: key.name }), key);
}

/** The checkpoint in `note` when `key` signed it (SignedNoteError otherwise). */
export function openCheckpoint(note: string, key: VerifierKey): Checkpoint {
  const checkpoint = parseCheckpointText(openNote(note, key));
  if (checkpoint.origin !== key.name) throw new CheckpointError(`the checkpoint is of log "${checkpoint.origin}", not of "${key.name}"`);
  return checkpoint;
}

/** One file per checkpoint, named so that names sort by tree size. */
export function checkpointFileName(size: bigint): string {
  return `checkpoint-${size.toString().padStart(20, '0')}.txt`;
}
