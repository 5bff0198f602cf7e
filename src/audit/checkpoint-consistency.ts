// The audit chain checked against its signed checkpoints (docs/decisions/035-signed-checkpoints.md).
// For a hash chain, checkpoint M is consistent with checkpoint N < M when recomputing the chain
// from N's head over rows N+1..M arrives at M's head. `verifyChain` (src/audit/verify.ts) already
// recomputes every row from the archive start to the head; so when it passes, the chain is
// consistent with every checkpoint whose head is the hash of the row at its seq, and each of them
// extends all earlier ones. What the chain alone cannot show, this shows:
// - a head moved back below a checkpoint: rows were deleted from the tail;
// - a row at a checkpoint's seq with another hash: the chain was recomputed from some row on;
// - a checkpoint not signed by the trusted key, or altered: forged or replaced.
import type { Database } from '../db/client.js';
import { CheckpointError, openCheckpoint, type Checkpoint, type PublishedCheckpoint } from './checkpoint.js';
import { SignedNoteError, type VerifierKey } from './signed-note.js';

export interface CheckpointProblem {
  /** Where the checkpoint was read from. */
  source: string;
  kind: 'forged' | 'altered' | 'malformed' | 'truncated' | 'rewritten' | 'missing-row';
  message: string;
}

export interface CheckpointCheck {
  ok: boolean;
  /** Checkpoints whose signature verified. */
  signed: number;
  /** Of those, how many the table was compared with (the rest cover archived rows). */
  compared: number;
  archived: number;
  /** The latest checkpoint with a good signature. */
  latest: Checkpoint | null;
  problems: CheckpointProblem[];
}

const when = (checkpoint: Checkpoint) => checkpoint.time.toISOString();

function signatureProblem(source: string, error: unknown): CheckpointProblem {
  if (error instanceof SignedNoteError && error.kind === 'unknown-key') {
    return { source, kind: 'forged', message: `checkpoint ${source} is not signed by the trusted key: ${error.message}; it was replaced or forged` };
  }
  if (error instanceof SignedNoteError && error.kind === 'bad-signature') {
    return { source, kind: 'altered', message: `checkpoint ${source} was altered after it was signed: ${error.message}` };
  }
  if (error instanceof SignedNoteError || error instanceof CheckpointError) {
    return { source, kind: 'malformed', message: `checkpoint ${source} cannot be read: ${error.message}` };
  }
  throw error;
}

/**
 * Compares the chain in the database with every published checkpoint. `head` is the chain head the
 * chain verification ran up to.
 */
export async function checkCheckpoints(db: Database, published: PublishedCheckpoint[], key: VerifierKey, head: { seq: bigint; hash: string }): Promise<CheckpointCheck> {
  const problems: CheckpointProblem[] = [];
  const valid: { source: string; checkpoint: Checkpoint }[] = [];
  for (const { source, note } of published) {
    try {
      valid.push({ source, checkpoint: openCheckpoint(note, key) });
    } catch (error) {
      problems.push(signatureProblem(source, error));
    }
  }
  valid.sort((a, b) => (a.checkpoint.size < b.checkpoint.size ? -1 : a.checkpoint.size > b.checkpoint.size ? 1 : 0));

  const above = valid.filter(({ checkpoint }) => checkpoint.size > head.seq);
  const highest = above.at(-1);
  if (highest) {
    const { checkpoint, source } = highest;
    problems.push({
      source,
      kind: 'truncated',
      message: `the chain's head is at seq ${head.seq}, but checkpoint ${source} signed at ${when(checkpoint)} covers seq ${checkpoint.size}: rows ${head.seq + 1n}..${checkpoint.size} were deleted and the head moved back (truncated tail)${above.length > 1 ? `; ${above.length} checkpoints lie above the head` : ''}`,
    });
  }

  const within = valid.filter(({ checkpoint }) => checkpoint.size <= head.seq && checkpoint.size > 0n);
  const archivedThrough = (await db.auditCheckpoint.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } }))?.seq ?? 0n;
  let compared = 0;
  let archived = 0;
  let lastMatching: { source: string; checkpoint: Checkpoint } | undefined;
  let rewritten = false;
  for (let index = 0; index < within.length; index += 1000) {
    const slice = within.slice(index, index + 1000);
    const rows = await db.auditEvent.findMany({ where: { seq: { in: slice.map(({ checkpoint }) => checkpoint.size) } }, select: { seq: true, hash: true } });
    const hashAt = new Map(rows.map((row) => [row.seq, row.hash]));
    for (const item of slice) {
      const { checkpoint, source } = item;
      const hash = hashAt.get(checkpoint.size);
      if (hash === undefined) {
        if (checkpoint.size <= archivedThrough) {
          // Rows an archive removed (decision 010): `jml audit verify --archive` re-checks the files.
          archived++;
          continue;
        }
        problems.push({ source, kind: 'missing-row', message: `row ${checkpoint.size}, which checkpoint ${source} signed at ${when(checkpoint)}, is missing from the table (deleted)` });
        continue;
      }
      compared++;
      if (hash === checkpoint.hash) {
        if (!rewritten) lastMatching = item;
        continue;
      }
      // Only the first: every later checkpoint differs as a consequence.
      if (rewritten) continue;
      rewritten = true;
      const since = lastMatching
        ? `after seq ${lastMatching.checkpoint.size} (checkpoint ${lastMatching.source} still matches) and at or before seq ${checkpoint.size}`
        : `at or before seq ${checkpoint.size}`;
      problems.push({
        source,
        kind: 'rewritten',
        message: `row ${checkpoint.size}'s hash is ${hash}, but checkpoint ${source} signed at ${when(checkpoint)} says ${checkpoint.hash}: the chain was rewritten ${since}, its hashes recomputed to a new head`,
      });
    }
  }
  return { ok: problems.length === 0, signed: valid.length, compared, archived, latest: valid.at(-1)?.checkpoint ?? null, problems };
}
