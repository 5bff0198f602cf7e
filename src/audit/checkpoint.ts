// Signed checkpoints of the audit chain, anchored outside PostgreSQL (docs/decisions/035-signed-
// checkpoints.md). A checkpoint says "the chain of log <origin> had <size> rows and head <hash> at
// <time>", signed with an Ed25519 key the database never holds, in the text form of a C2SP
// tlog-checkpoint (https://c2sp.org/tlog-checkpoint) inside a signed note (src/audit/signed-note.ts):
//
//   jml-audit/3f9c2a1b0d4e5f60          origin: the key's name, one per log
//   1234                                tree size: the chain's seq at the head
//   q6H8...base64 of the 32-byte head hash...=
//   time 2026-12-01T22:14:05.123Z       extension line: when it was signed
//
//   — jml-audit/3f9c2a1b0d4e5f60 <base64 key ID || signature>
//
// Our third line is the hash chain's head (decision 016), not an RFC 6962 Merkle root, so
// Merkle-proof verifiers cannot read it; the envelope and the key format are the standard ones.
// This module owns checkpoints: the key, where they are published and read back from (a
// directory, an HTTP endpoint, an S3 bucket), and the checkpointer that signs the head while the
// chain moves; the text format and its signature are src/audit/checkpoint-format.ts.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, closeSync, fsyncSync, openSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { dataDir, type Environment } from '../config.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { PeriodicPass } from './periodic.js';
import { S3Bucket, type S3BucketOptions } from './s3-bucket.js';
import { CheckpointError, checkpointFileName, openCheckpoint, parseCheckpointText, signCheckpoint, type Checkpoint } from './checkpoint-format.js';
import { generateSignerKey, parseNote, parseSignerKey, parseVerifierKey, SignedNoteError, type SignerKey, type VerifierKey } from './signed-note.js';

// The format is its own module so that `jml verify-bundle` reads checkpoints without loading this
// one's configuration, database and S3 imports (issue 17).
export { CheckpointError, checkpointFileName, checkpointText, openCheckpoint, parseCheckpointText, signCheckpoint, type Checkpoint } from './checkpoint-format.js';

// ---- The key -------------------------------------------------------------------------------

/** Where `npm start` keeps the key it generated when none is configured. */
export function defaultKeyFile(env: Environment): string {
  return path.join(dataDir(env), 'checkpoint-signing.key');
}

export interface LoadedKey {
  key: SignerKey;
  /** Where it came from, for the log (never the key itself). */
  source: string;
  generated: boolean;
}

/**
 * The signing key: JML_CHECKPOINT_KEY (or the file JML_CHECKPOINT_KEY_FILE names, resolved by the
 * one secret loader, src/config.ts), else the key `npm start` generated in the data folder. With
 * `create`, generates that key (mode 0600) when absent. Null when there is none.
 */
export function loadCheckpointKey(env: Environment, options: { create: boolean }): LoadedKey | null {
  if (env.JML_CHECKPOINT_KEY) return { key: parseKeyOrThrow(env.JML_CHECKPOINT_KEY, 'JML_CHECKPOINT_KEY'), source: 'JML_CHECKPOINT_KEY', generated: false };
  const file = defaultKeyFile(env);
  try {
    return { key: parseKeyOrThrow(readFileSync(file, 'utf8'), file), source: file, generated: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !options.create) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const text = `${generateSignerKey(`jml-audit/${randomBytes(8).toString('hex')}`)}\n`;
  try {
    // 'wx': two processes starting at once never replace each other's key.
    writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
    const fd = openSync(file, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: parseKeyOrThrow(readFileSync(file, 'utf8'), file), source: file, generated: false };
  }
  return { key: parseSignerKey(text), source: file, generated: true };
}

function parseKeyOrThrow(text: string, where: string): SignerKey {
  try {
    return parseSignerKey(text);
  } catch (error) {
    if (error instanceof SignedNoteError) throw new CheckpointError(`${where}: ${error.message}`);
    throw error;
  }
}

/**
 * The key checkpoints are verified with: JML_CHECKPOINT_PUBLIC_KEY (an auditor needs no private
 * key), else the public half of the signing key.
 */
export function loadVerifierKey(env: Environment): VerifierKey | null {
  if (env.JML_CHECKPOINT_PUBLIC_KEY) {
    try {
      return parseVerifierKey(env.JML_CHECKPOINT_PUBLIC_KEY);
    } catch (error) {
      if (error instanceof SignedNoteError) throw new CheckpointError(`JML_CHECKPOINT_PUBLIC_KEY: ${error.message}`);
      throw error;
    }
  }
  return loadCheckpointKey(env, { create: false })?.key ?? null;
}

// ---- Where checkpoints go ------------------------------------------------------------------

export function checkpointDirectory(env: Environment): string {
  return path.resolve(env.JML_CHECKPOINT_DIR ?? path.join(dataDir(env), 'checkpoints'));
}

const CHECKPOINT_FILE = /^checkpoint-\d{20}\.txt$/;

export interface PublishedCheckpoint {
  /** The file (or s3:// name) it was read from. */
  source: string;
  note: string;
}

export interface CheckpointPublisher {
  /** Where, for logs and `jml audit verify`'s report (a path, a URL, s3://bucket/prefix/). */
  readonly description: string;
  /** 'exists': the same tree size was published before with the same head. */
  publish(checkpoint: Checkpoint, note: string): Promise<'published' | 'exists'>;
  /** Every checkpoint published here, by tree size; absent where nothing can be read back (a POST endpoint). */
  read?(): Promise<PublishedCheckpoint[]>;
}

/** A place `jml audit verify` reads checkpoints back from. */
export type CheckpointReader = Required<Pick<CheckpointPublisher, 'description' | 'read'>>;

export function canBeRead(place: CheckpointPublisher): place is CheckpointPublisher & CheckpointReader {
  return typeof place.read === 'function';
}

/** 'exists' when `existing` (already at `source`) signs the same head; a different head means the chain was rewritten. */
function sameHeadOrThrow(source: string, existing: string, checkpoint: Checkpoint): 'exists' {
  const { hash } = parseCheckpointText(parseNote(existing).text);
  if (hash !== checkpoint.hash) {
    throw new CheckpointError(`${source} already holds a checkpoint of size ${checkpoint.size} with head ${hash}; the chain's head at that size is now ${checkpoint.hash}: the chain was rewritten`);
  }
  return 'exists';
}

/**
 * Append-only: a file is written under a temporary name, fsynced, then hard-linked to its final
 * name (link, unlike rename, fails when the name exists, so nothing is ever overwritten), and the
 * directory is fsynced so the new name survives a crash.
 */
export class DirectoryPublisher implements CheckpointPublisher {
  constructor(readonly directory: string) {}

  get description(): string {
    return this.directory;
  }

  async publish(checkpoint: Checkpoint, note: string): Promise<'published' | 'exists'> {
    await mkdir(this.directory, { recursive: true });
    const file = path.join(this.directory, checkpointFileName(checkpoint.size));
    const temporary = path.join(this.directory, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await open(temporary, 'wx', 0o644);
    try {
      await handle.writeFile(note, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return sameHeadOrThrow(file, await readFile(file, 'utf8'), checkpoint);
    } finally {
      await unlink(temporary);
    }
    const directory = await open(this.directory, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
    return 'published';
  }

  read(): Promise<PublishedCheckpoint[]> {
    return readPublishedCheckpoints(this.directory);
  }
}

/** Every checkpoint file in `directory`, by tree size. */
export async function readPublishedCheckpoints(directory: string): Promise<PublishedCheckpoint[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files = names.filter((name) => CHECKPOINT_FILE.test(name)).sort();
  return Promise.all(files.map(async (name) => ({ source: path.join(directory, name), note: await readFile(path.join(directory, name), 'utf8') })));
}

/**
 * POST (or PUT to <url>/<file name>) the note as text/plain to any HTTP endpoint: a witness, an
 * object store's pre-signed URL, a log collector. 2xx is published; 409 means the receiver holds
 * that name already (an append-only store refusing an overwrite).
 */
export class HttpPublisher implements CheckpointPublisher {
  constructor(private readonly options: { url: string; method: 'POST' | 'PUT'; token?: string; timeoutMs?: number }) {}

  get description(): string {
    return `${this.options.method} ${new URL(this.options.url).origin}`;
  }

  async publish(checkpoint: Checkpoint, note: string): Promise<'published' | 'exists'> {
    const url = this.options.method === 'PUT' ? `${this.options.url.replace(/\/+$/, '')}/${checkpointFileName(checkpoint.size)}` : this.options.url;
    const response = await fetch(url, {
      method: this.options.method,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
      body: note,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    await response.body?.cancel();
    if (response.status === 409) return 'exists';
    if (!response.ok) throw new CheckpointError(`${this.description} answered ${response.status} to checkpoint ${checkpoint.size}`);
    return 'published';
  }
}

/** How many checkpoint objects `read` fetches at once. */
const READ_CONCURRENCY = 8;

/**
 * An S3 bucket (AWS or S3-compatible), one object per checkpoint under `prefix`, named as the
 * files are. Append-only from jml's side: every PutObject carries `If-None-Match: *`, so an
 * existing object is never replaced, by jml or by a second writer. That the objects can never be
 * deleted or overwritten by anyone is the bucket's setting (Object Lock in compliance mode, or
 * versioning): the operator's WORM switch, decision 045.
 */
export class S3Publisher implements CheckpointPublisher {
  constructor(
    private readonly bucket: S3Bucket,
    private readonly prefix: string,
  ) {}

  get description(): string {
    return `${this.bucket.description}${this.prefix}`;
  }

  async publish(checkpoint: Checkpoint, note: string): Promise<'published' | 'exists'> {
    const key = `${this.prefix}${checkpointFileName(checkpoint.size)}`;
    if ((await this.bucket.putIfAbsent(key, note)) === 'created') return 'published';
    const existing = await this.bucket.get(key);
    // 412 and then no object: deleted in between (a bucket without Object Lock); the next pass writes it again.
    if (existing === null) throw new CheckpointError(`${this.description}${checkpointFileName(checkpoint.size)} was refused as existing, then not found`);
    return sameHeadOrThrow(`${this.description}${checkpointFileName(checkpoint.size)}`, existing, checkpoint);
  }

  async read(): Promise<PublishedCheckpoint[]> {
    const names = (await this.bucket.list(this.prefix)).map((key) => key.slice(this.prefix.length)).filter((name) => CHECKPOINT_FILE.test(name)).sort();
    const read: (PublishedCheckpoint | null)[] = [];
    for (let index = 0; index < names.length; index += READ_CONCURRENCY) {
      const batch = names.slice(index, index + READ_CONCURRENCY);
      read.push(...(await Promise.all(batch.map(async (name) => {
        const note = await this.bucket.get(`${this.prefix}${name}`);
        return note === null ? null : { source: `${this.description}${name}`, note };
      }))));
    }
    return read.filter((item): item is PublishedCheckpoint => item !== null);
  }
}

/** The S3 bucket checkpoints go to, from JML_CHECKPOINT_S3_* (checked together by src/config.ts). */
export function s3BucketOptions(env: Environment): S3BucketOptions | null {
  if (!env.JML_CHECKPOINT_S3_URL || !env.JML_CHECKPOINT_S3_ACCESS_KEY_ID || !env.JML_CHECKPOINT_S3_SECRET_ACCESS_KEY) return null;
  return {
    endpoint: env.JML_CHECKPOINT_S3_URL,
    bucket: env.JML_CHECKPOINT_S3_BUCKET,
    region: env.JML_CHECKPOINT_S3_REGION,
    accessKeyId: env.JML_CHECKPOINT_S3_ACCESS_KEY_ID,
    secretAccessKey: env.JML_CHECKPOINT_S3_SECRET_ACCESS_KEY,
  };
}

/**
 * Every place checkpoints are published to: the local directory first (the checkpointer's own
 * record), then the HTTP endpoint and the S3 bucket when configured. `jml audit verify` reads back
 * from those that can be read (the directory and the bucket).
 */
export function checkpointPlaces(env: Environment): CheckpointPublisher[] {
  const places: CheckpointPublisher[] = [new DirectoryPublisher(checkpointDirectory(env))];
  if (env.JML_CHECKPOINT_URL) places.push(new HttpPublisher({ url: env.JML_CHECKPOINT_URL, method: env.JML_CHECKPOINT_HTTP_METHOD, token: env.JML_CHECKPOINT_HTTP_TOKEN }));
  const s3 = s3BucketOptions(env);
  if (s3) places.push(new S3Publisher(new S3Bucket(s3), env.JML_CHECKPOINT_S3_PREFIX));
  return places;
}

export interface ReadBack {
  /** Every checkpoint read, once: a note found in several places is listed from the first. */
  published: PublishedCheckpoint[];
  /** Places that could not be read, and why. */
  unreadable: { place: string; reason: string }[];
}

/** Reads every place back; a place that fails is reported, not fatal, so the others still count. */
export async function readBack(places: CheckpointReader[]): Promise<ReadBack> {
  const published: PublishedCheckpoint[] = [];
  const unreadable: ReadBack['unreadable'] = [];
  const seen = new Set<string>();
  for (const place of places) {
    let items: PublishedCheckpoint[];
    try {
      items = await place.read();
    } catch (error) {
      unreadable.push({ place: place.description, reason: error instanceof Error ? error.message : String(error) });
      continue;
    }
    for (const item of items) {
      if (seen.has(item.note)) continue;
      seen.add(item.note);
      published.push(item);
    }
  }
  return { published, unreadable };
}

export interface CheckpointerSetup {
  key: SignerKey;
  /** The local directory (the first publisher's), which evidence bundles read. */
  directory: string;
  /** The first is the local directory; its failure stops a checkpoint, the others' are logged and retried. */
  publishers: CheckpointPublisher[];
  intervalMs: number;
}

/** The checkpointer's configuration from the environment, or null when no key exists. */
export function checkpointerSetup(env: Environment, options: { create: boolean; logger?: Logger }): CheckpointerSetup | null {
  // In production a key generated into a container's data folder would change at every fresh
  // start; there the key is configured (JML_CHECKPOINT_KEY_FILE) or checkpoints are off, loudly.
  const create = options.create && env.NODE_ENV !== 'production';
  let loaded: LoadedKey | null;
  try {
    loaded = loadCheckpointKey(env, { create });
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    // A data folder jml may not write (a read-only image): run, but say what is missing.
    options.logger?.error({ err: error, file: defaultKeyFile(env) }, 'cannot create the checkpoint signing key: audit checkpoints are off; set JML_CHECKPOINT_KEY_FILE');
    return null;
  }
  if (!loaded) {
    if (options.create) options.logger?.warn('no checkpoint signing key (JML_CHECKPOINT_KEY_FILE): the audit chain is not signed, so a deleted tail or a recomputed chain goes unnoticed');
    return null;
  }
  if (loaded.generated) options.logger?.warn({ file: loaded.source, publicKey: loaded.key.text }, 'generated a checkpoint signing key: back it up, and give auditors its public key');
  return { key: loaded.key, directory: checkpointDirectory(env), publishers: checkpointPlaces(env), intervalMs: env.JML_CHECKPOINT_INTERVAL_MS };
}

// ---- The checkpointer ----------------------------------------------------------------------

export type CheckpointOutcome = { state: 'unchanged' | 'empty' } | { state: 'published'; checkpoint: Checkpoint; note: string } | { state: 'refused'; reason: string };

/**
 * Checkpoints kept for a remote place that failed, per place. A day of checkpoints at one a
 * minute; past that the oldest is dropped (the newest carries the chain forward, decision 035).
 */
const MAX_PENDING = 1440;

/**
 * Signs the chain's head while it moves: a pass reads the head (one row) and signs only when it
 * moved since the last checkpoint. It never signs a head that does not extend the last checkpoint
 * it published (tlog-checkpoint: a log must not sign inconsistent checkpoints); it logs an error
 * instead, because the chain below that checkpoint was changed.
 */
export class Checkpointer {
  private last: Checkpoint | undefined;
  private loaded = false;
  private readonly loop: PeriodicPass;
  /** Per remote place, the checkpoints it has not accepted yet, oldest first: retried at every pass. */
  private readonly pending = new Map<CheckpointPublisher, { checkpoint: Checkpoint; note: string }[]>();

  constructor(private readonly options: Omit<CheckpointerSetup, 'directory'> & { db: Database; logger?: Logger; now?: () => Date }) {
    this.loop = new PeriodicPass(
      async () => {
        const outcome = await this.checkpointOnce();
        if (outcome.state === 'refused') options.logger?.error({ reason: outcome.reason }, 'the audit chain does not extend the last signed checkpoint: nothing signed');
      },
      options.intervalMs,
      (error) => options.logger?.error({ err: error }, 'checkpoint failed; retrying'),
    );
  }

  /** The latest checkpoint already in the local directory, so a restart does not sign the same head twice. */
  private async loadLast(): Promise<void> {
    if (this.loaded) return;
    const local = this.options.publishers.find((publisher): publisher is DirectoryPublisher => publisher instanceof DirectoryPublisher);
    const published = local ? await readPublishedCheckpoints(local.directory) : [];
    for (const { note } of published.reverse()) {
      try {
        this.last = openCheckpoint(note, this.options.key);
        break;
      } catch {
        // Not ours (another key, or altered): `jml audit verify` reports it; it is no base to extend.
      }
    }
    this.loaded = true;
  }

  /** Whether the chain still holds the last checkpoint's head at its seq (or archived it intact). */
  private async extendsLast(last: Checkpoint): Promise<string | null> {
    const row = await this.options.db.auditEvent.findUnique({ where: { seq: last.size }, select: { hash: true } });
    if (row) return row.hash === last.hash ? null : `row ${last.size}'s hash is no longer the hash checkpoint ${last.size} signed: the chain was rewritten`;
    const archived = await this.options.db.auditCheckpoint.findFirst({ where: { seq: { gte: last.size } } });
    // Rows an archive removed (decision 010) are checked by `jml audit verify --archive`.
    return archived ? null : `row ${last.size}, which checkpoint ${last.size} covers, is gone: the chain was truncated`;
  }

  /** Signs the head when it moved, then sends every place the checkpoints it still lacks. */
  async checkpointOnce(): Promise<CheckpointOutcome> {
    const outcome = await this.signHead();
    await this.publishPending();
    return outcome;
  }

  /** How many checkpoints wait for each remote place (for tests and logs). */
  pendingCount(): number {
    return [...this.pending.values()].reduce((sum, queue) => sum + queue.length, 0);
  }

  private async signHead(): Promise<CheckpointOutcome> {
    await this.loadLast();
    const head = await this.options.db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } });
    const last = this.last;
    if (head.seq === 0n) return { state: 'empty' };
    if (last && head.seq === last.size && head.hash === last.hash) return { state: 'unchanged' };
    if (last) {
      const problem = head.seq < last.size ? `the chain head moved back from seq ${last.size} to ${head.seq}: rows were deleted` : await this.extendsLast(last);
      if (problem) return { state: 'refused', reason: problem };
    }
    const checkpoint: Checkpoint = { origin: this.options.key.name, size: head.seq, hash: head.hash, time: (this.options.now ?? (() => new Date()))() };
    const note = signCheckpoint(checkpoint, this.options.key);
    const [local, ...others] = this.options.publishers;
    // The local directory is the record: if it fails, nothing is signed as done, and the next pass tries again.
    if (local) await local.publish(checkpoint, note);
    for (const place of others) {
      const queue = this.pending.get(place) ?? [];
      queue.push({ checkpoint, note });
      const dropped = queue.splice(0, Math.max(0, queue.length - MAX_PENDING));
      if (dropped.length > 0) this.options.logger?.error({ to: place.description, dropped: dropped.length }, 'checkpoints waited too long for a place that keeps failing; the oldest are no longer retried');
      this.pending.set(place, queue);
    }
    this.last = checkpoint;
    return { state: 'published', checkpoint, note };
  }

  /**
   * Each remote place gets its waiting checkpoints, oldest first, until one fails: a place that is
   * down or refuses jml's credentials is logged at each pass and tried again at the next; it never
   * stops the checkpointer or the process.
   */
  private async publishPending(): Promise<void> {
    await Promise.all(
      [...this.pending].map(async ([place, queue]) => {
        while (queue.length > 0) {
          const { checkpoint, note } = queue[0]!;
          try {
            await place.publish(checkpoint, note);
          } catch (error) {
            this.options.logger?.warn({ err: error, to: place.description, checkpoint: checkpoint.size.toString(), waiting: queue.length }, 'a checkpoint could not be published there; retrying at the next pass');
            return;
          }
          queue.shift();
        }
      }),
    );
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
