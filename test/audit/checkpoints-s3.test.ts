// Signed checkpoints published to an S3 bucket (docs/decisions/045-s3-checkpoints.md), against a
// real S3-compatible server started here: versitygw (test/support/s3-server.ts). What it proves,
// because versitygw does these itself: requests are SigV4-signed correctly (it recomputes every
// signature and answers 403 SignatureDoesNotMatch to a wrong secret), and a second PutObject of a
// key is refused (it honours `If-None-Match: *` with 412), so an object is never replaced. What it
// cannot prove: AWS's Object Lock (the operator's WORM setting), which versitygw's posix backend
// does not enforce.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { checkpointFileName, Checkpointer, checkpointPlaces, DirectoryPublisher, openCheckpoint, S3Publisher, signCheckpoint } from '../../src/audit/checkpoint.js';
import { S3Bucket } from '../../src/audit/s3-bucket.js';
import { generateSignerKey, parseSignerKey } from '../../src/audit/signed-note.js';
import { auditCommand } from '../../src/cli/audit.js';
import { ConfigError } from '../../src/config.js';
import { loadEnvironment } from '../../src/environment.js';
import type { Logger } from '../../src/logger.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { planS3Server, startS3Server, type S3TestServer } from '../support/s3-server.js';

const key = parseSignerKey(generateSignerKey('jml-audit/s3-test'));
const PREFIX = 'jml/';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}

async function folder(): Promise<string> {
  const directory = await mkdtemp(path.join(tmpdir(), 'jml-checkpoints-'));
  cleanups.push(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

async function s3Server(planned?: Parameters<typeof startS3Server>[0]): Promise<S3TestServer> {
  const server = await startS3Server(planned);
  cleanups.push(() => server.stop());
  return server;
}

function bucketOf(server: Omit<S3TestServer, 'root' | 'stop'>, secretAccessKey = server.secretAccessKey): S3Bucket {
  return new S3Bucket({ endpoint: server.endpoint, bucket: server.bucket, region: server.region, accessKeyId: server.accessKeyId, secretAccessKey });
}

async function appendRows(db: TestDatabase, count: number): Promise<void> {
  const entries = Array.from({ length: count }, (_, index) => ({ actor: 'system', action: 'test.row', data: { n: index } }));
  await db.db.$transaction((tx) => appendAudit(tx, entries));
  await integrated(db.db);
}

function recordingLogger() {
  const warnings: { err?: Error; to?: string }[] = [];
  const logger = { warn: (fields: { err?: Error; to?: string }) => warnings.push(fields), error: () => {} } as unknown as Logger;
  return { warnings, logger };
}

describe('publishing checkpoints to an S3 bucket', () => {
  it('writes each checkpoint as a new object that a second writer cannot replace', async () => {
    const server = await s3Server();
    const db = await database();
    const directory = await folder();
    const s3 = new S3Publisher(bucketOf(server), PREFIX);
    const checkpointer = new Checkpointer({ db: db.db, key, publishers: [new DirectoryPublisher(directory), s3], intervalMs: 60_000 });
    await appendRows(db, 5);
    const outcome = await checkpointer.checkpointOnce();
    expect(outcome.state).toBe('published');
    await appendRows(db, 3);
    expect((await checkpointer.checkpointOnce()).state).toBe('published');

    const objects = await s3.read();
    expect(objects.map((object) => object.source)).toEqual([`s3://${server.bucket}/${PREFIX}${checkpointFileName(5n)}`, `s3://${server.bucket}/${PREFIX}${checkpointFileName(8n)}`]);
    expect(objects[0]!.note).toBe(await readFile(path.join(directory, checkpointFileName(5n)), 'utf8'));
    expect(openCheckpoint(objects[1]!.note, key)).toMatchObject({ size: 8n });

    // The store itself refuses the overwrite (412 to If-None-Match: *): the object keeps its bytes.
    const key5 = `${PREFIX}${checkpointFileName(5n)}`;
    expect(await bucketOf(server).putIfAbsent(key5, 'replaced')).toBe('exists');
    expect(await bucketOf(server).get(key5)).toBe(objects[0]!.note);
    // A second jml signing the same head later is a no-op; a different head at that size is a rewritten chain.
    const first = outcome.state === 'published' ? outcome.checkpoint : undefined;
    expect(await s3.publish(first!, signCheckpoint({ ...first!, time: new Date() }, key))).toBe('exists');
    const forged = { ...first!, hash: 'cd'.repeat(32) };
    await expect(s3.publish(forged, signCheckpoint(forged, key))).rejects.toThrow(`s3://${server.bucket}/${key5} already holds a checkpoint of size 5 with head ${first!.hash}`);
    expect(await bucketOf(server).get(key5)).toBe(objects[0]!.note);
  });

  it('is configured from the environment, the secret through the one _FILE loader', async () => {
    const server = await s3Server();
    const directory = await folder();
    await writeFile(path.join(directory, 'secret'), `${server.secretAccessKey}\n`, { mode: 0o600 });
    const variables = {
      JML_CHECKPOINT_DIR: directory,
      JML_CHECKPOINT_S3_URL: server.endpoint,
      JML_CHECKPOINT_S3_BUCKET: server.bucket,
      JML_CHECKPOINT_S3_REGION: server.region,
      JML_CHECKPOINT_S3_ACCESS_KEY_ID: server.accessKeyId,
    };
    const places = checkpointPlaces(loadEnvironment({ ...variables, JML_CHECKPOINT_S3_SECRET_ACCESS_KEY_FILE: path.join(directory, 'secret') }).environment);
    expect(places.map((place) => place.description)).toEqual([directory, `s3://${server.bucket}/jml-checkpoints/`]);
    const checkpoint = { origin: key.name, size: 1n, hash: 'ab'.repeat(32), time: new Date() };
    expect(await places[1]!.publish(checkpoint, signCheckpoint(checkpoint, key))).toBe('published');
    expect(await readdir(path.join(server.root, 'data', server.bucket, 'jml-checkpoints'))).toEqual([checkpointFileName(1n)]);
    // Half a configuration is refused at start-up rather than publishing nowhere.
    expect(() => loadEnvironment(variables)).toThrow(ConfigError);
    expect(() => loadEnvironment(variables)).toThrow(/JML_CHECKPOINT_S3_SECRET_ACCESS_KEY: is needed with JML_CHECKPOINT_S3_URL/);
  });
});

describe('jml audit verify against the bucket', () => {
  it('reads the checkpoints back and finds a deleted tail even after the local copies were deleted too', async () => {
    const server = await s3Server();
    const db = await database();
    const directory = await folder();
    const places = [new DirectoryPublisher(directory), new S3Publisher(bucketOf(server), PREFIX)];
    const checkpointer = new Checkpointer({ db: db.db, key, publishers: places, intervalMs: 60_000 });
    for (const rows of [50, 70, 30]) {
      await appendRows(db, rows);
      expect((await checkpointer.checkpointOnce()).state).toBe('published');
    }
    const verify = async () => {
      const output = { out: '', err: '' };
      const code = await auditCommand(db.db, { action: 'verify', checkpoints: { places, key } }, { out: (text) => void (output.out += text), err: (text) => void (output.err += text) });
      return { code, ...output };
    };
    const untouched = await verify();
    expect(untouched.code).toBe(0);
    // Each checkpoint is in both places and counted once.
    expect(untouched.out).toContain(`Signed checkpoints in ${directory} and s3://${server.bucket}/${PREFIX}: 3 signed by ${key.text}, 3 compared with the chain`);

    // The database owner deletes the last 10 rows, moves the head back, and empties the local checkpoint directory.
    const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE seq = 140');
    await db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    await db.query('DELETE FROM audit_event WHERE seq > 140');
    await db.query(`UPDATE audit_chain_head SET seq = 140, hash = '${row!.hash}'`);
    await db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    for (const file of await readdir(directory)) await rm(path.join(directory, file));

    const tampered = await verify();
    expect(tampered.code).toBe(1);
    expect(tampered.out).toContain('Audit chain intact: 140 rows verified');
    expect(tampered.out).toContain(`truncated: the chain's head is at seq 140, but checkpoint s3://${server.bucket}/${PREFIX}${checkpointFileName(150n)}`);
    expect(tampered.out).toContain('rows 141..150 were deleted and the head moved back (truncated tail)');
  });

  it('fails, naming the place and the reason, when the bucket cannot be read', async () => {
    const server = await s3Server();
    const db = await database();
    await appendRows(db, 2);
    const places = [new DirectoryPublisher(await folder()), new S3Publisher(bucketOf(server, 'not-the-secret'), PREFIX)];
    const output = { out: '' };
    const code = await auditCommand(db.db, { action: 'verify', checkpoints: { places, key } }, { out: (text) => void (output.out += text), err: () => {} });
    expect(code).toBe(1);
    expect(output.out).toContain(`CHECKPOINTS UNREADABLE from s3://${server.bucket}/${PREFIX}: ListObjectsV2 s3://${server.bucket}/${PREFIX}: the store answered 403 SignatureDoesNotMatch`);
  });
});

describe('a bucket that refuses or is down', () => {
  it('a wrong secret is logged with what to fix and retried at each pass; the local checkpoint is written and signing goes on', async () => {
    const server = await s3Server();
    const db = await database();
    const directory = await folder();
    const { warnings, logger } = recordingLogger();
    const checkpointer = new Checkpointer({ db: db.db, key, publishers: [new DirectoryPublisher(directory), new S3Publisher(bucketOf(server, 'wrong-secret'), PREFIX)], intervalMs: 50, logger });
    await appendRows(db, 4);
    checkpointer.start();
    try {
      await expect.poll(() => warnings.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect(warnings[0]!.err!.message).toBe(
        `PutObject s3://${server.bucket}/${PREFIX}${checkpointFileName(4n)}: the store answered 403 SignatureDoesNotMatch (The request signature we calculated does not match the signature you provided. Check your key and signing method.): the secret access key is wrong (JML_CHECKPOINT_S3_SECRET_ACCESS_KEY)`,
      );
      expect(await readdir(directory)).toEqual([checkpointFileName(4n)]);
      // Still running: the chain moves and the next checkpoint is signed and kept locally.
      await appendRows(db, 1);
      await expect.poll(() => readdir(directory), { timeout: 10_000 }).toEqual([checkpointFileName(4n), checkpointFileName(5n)]);
      // Polled, not read once: the local file is written a moment before the checkpoint joins the
      // bucket's queue, and a test that reads the directory in between sees only one waiting.
      await expect.poll(() => checkpointer.pendingCount(), { timeout: 10_000 }).toBe(2);
    } finally {
      await checkpointer.stop();
    }
    // Nothing reached the bucket: the store refused every request.
    expect(await new S3Publisher(bucketOf(server), PREFIX).read()).toEqual([]);
  });

  it('a checkpoint signed while the store was down is published once it is back', async () => {
    const planned = await planS3Server();
    const db = await database();
    const { warnings, logger } = recordingLogger();
    const s3 = new S3Publisher(bucketOf(planned), PREFIX);
    const checkpointer = new Checkpointer({ db: db.db, key, publishers: [new DirectoryPublisher(await folder()), s3], intervalMs: 60_000, logger });
    await appendRows(db, 3);
    expect((await checkpointer.checkpointOnce()).state).toBe('published');
    expect(warnings[0]!.err!.message).toMatch(/could not be reached \(ECONNREFUSED\): check JML_CHECKPOINT_S3_URL/);
    expect(checkpointer.pendingCount()).toBe(1);

    await s3Server(planned);
    expect((await checkpointer.checkpointOnce()).state).toBe('unchanged');
    expect(checkpointer.pendingCount()).toBe(0);
    expect((await s3.read()).map((object) => openCheckpoint(object.note, key).size)).toEqual([3n]);
  });
});
