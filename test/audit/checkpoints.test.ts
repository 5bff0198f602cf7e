// Signed checkpoints against the real PostgreSQL (docs/decisions/035-signed-checkpoints.md): the
// checkpointer signs the head only while the chain moves, and `jml audit verify` names each way a
// superuser can tamper once checkpoints sit outside the database: an edited row, a deleted tail
// with the head moved back, a chain recomputed from row 100 to a new head, and a checkpoint file
// replaced by one signed with another key.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { chainHash, entryHash } from '../../src/audit/chain.js';
import type { JsonValue } from '../../src/audit/canonical.js';
import { archiveAudit } from '../../src/audit/archive.js';
import { Checkpointer, checkpointFileName, DirectoryPublisher, HttpPublisher, openCheckpoint, signCheckpoint } from '../../src/audit/checkpoint.js';
import { generateSignerKey, parseSignerKey } from '../../src/audit/signed-note.js';
import { auditCommand } from '../../src/cli/audit.js';
import type { Logger } from '../../src/logger.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const key = parseSignerKey(generateSignerKey('jml-audit/checkpoints-test'));
let database: TestDatabase | undefined;
let directory: string | undefined;

afterEach(async () => {
  await database?.drop();
  database = undefined;
  if (directory) await rm(directory, { recursive: true, force: true });
  directory = undefined;
});

async function appendRows(db: TestDatabase, count: number): Promise<void> {
  for (let first = 0; first < count; first += 50) {
    const entries = Array.from({ length: Math.min(50, count - first) }, (_, index) => ({ actor: 'system', action: 'test.row', data: { n: first + index } }));
    await db.db.$transaction((tx) => appendAudit(tx, entries));
  }
  await integrated(db.db);
}

/**
 * 150 integrated rows with checkpoints published at seq 50, 120 and 150, as the checkpointer
 * would have while the chain grew.
 */
async function checkpointedChain(): Promise<{ db: TestDatabase; checkpointer: Checkpointer }> {
  database = await createTestDatabase();
  directory = await mkdtemp(path.join(tmpdir(), 'jml-checkpoints-'));
  const checkpointer = new Checkpointer({ db: database.db, key, publishers: [new DirectoryPublisher(directory)], intervalMs: 60_000 });
  for (const rows of [50, 70, 30]) {
    await appendRows(database, rows);
    expect((await checkpointer.checkpointOnce()).state).toBe('published');
  }
  return { db: database, checkpointer };
}

/** What a superuser can do: switch the append-only trigger off, change rows, switch it back on. */
async function asSuperuser(db: TestDatabase, statements: string[]): Promise<void> {
  await db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
  try {
    for (const sql of statements) await db.query(sql);
  } finally {
    await db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
  }
}

async function verify(db: TestDatabase) {
  const output = { out: '', err: '' };
  const io = { out: (text: string) => void (output.out += text), err: (text: string) => void (output.err += text) };
  const code = await auditCommand(db.db, { action: 'verify', checkpoints: { places: [new DirectoryPublisher(directory!)], key } }, io);
  return { code, ...output };
}

describe('the checkpointer', () => {
  it('signs the head when the chain moved, and not when it did not', async () => {
    const { db, checkpointer } = await checkpointedChain();
    expect(await readdir(directory!)).toEqual([checkpointFileName(50n), checkpointFileName(120n), checkpointFileName(150n)]);
    expect((await checkpointer.checkpointOnce()).state).toBe('unchanged');
    // A restarted checkpointer picks up from the directory instead of signing the same head again.
    const restarted = new Checkpointer({ db: db.db, key, publishers: [new DirectoryPublisher(directory!)], intervalMs: 60_000 });
    expect((await restarted.checkpointOnce()).state).toBe('unchanged');
    await appendRows(db, 1);
    expect(await restarted.checkpointOnce()).toMatchObject({ state: 'published', checkpoint: { size: 151n } });
  });

  it('refuses to sign a head that no longer extends its last checkpoint', async () => {
    const { db, checkpointer } = await checkpointedChain();
    const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE seq = 140');
    await asSuperuser(db, ['DELETE FROM audit_event WHERE seq > 140', `UPDATE audit_chain_head SET seq = 140, hash = '${row!.hash}'`]);
    expect(await checkpointer.checkpointOnce()).toEqual({ state: 'refused', reason: 'the chain head moved back from seq 150 to 140: rows were deleted' });
  });
});

describe('publishing over HTTP', () => {
  it('POSTs or PUTs the note, takes 409 as already there, and keeps the local copy when the endpoint fails', async () => {
    const received: { method: string; url: string; body: string; auth: string | undefined }[] = [];
    let status = 201;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, body, auth: req.headers.authorization });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const checkpoint = { origin: key.name, size: 3n, hash: 'ab'.repeat(32), time: new Date() };
      const note = signCheckpoint(checkpoint, key);
      expect(await new HttpPublisher({ url: `${base}/checkpoints`, method: 'POST', token: 't0ken' }).publish(checkpoint, note)).toBe('published');
      expect(await new HttpPublisher({ url: `${base}/bucket/`, method: 'PUT' }).publish(checkpoint, note)).toBe('published');
      status = 409;
      expect(await new HttpPublisher({ url: `${base}/bucket`, method: 'PUT' }).publish(checkpoint, note)).toBe('exists');
      expect(received.slice(0, 2)).toEqual([
        { method: 'POST', url: '/checkpoints', body: note, auth: 'Bearer t0ken' },
        { method: 'PUT', url: `/bucket/${checkpointFileName(3n)}`, body: note, auth: undefined },
      ]);
      expect(openCheckpoint(received[0]!.body, key)).toEqual(checkpoint);

      // An endpoint that fails does not stop the checkpoint: the directory has it, the next one retries.
      status = 503;
      database = await createTestDatabase();
      directory = await mkdtemp(path.join(tmpdir(), 'jml-checkpoints-'));
      await appendRows(database, 5);
      const warnings: unknown[] = [];
      const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger;
      const checkpointer = new Checkpointer({ db: database.db, key, publishers: [new DirectoryPublisher(directory), new HttpPublisher({ url: base, method: 'POST' })], intervalMs: 60_000, logger });
      expect((await checkpointer.checkpointOnce()).state).toBe('published');
      expect(await readdir(directory)).toEqual([checkpointFileName(5n)]);
      expect(warnings).toHaveLength(1);
    } finally {
      server.close();
    }
  });
});

describe('audit verify against signed checkpoints', () => {
  it('keeps checkpoints valid across archiving: archived ones are counted, the rest compared, and signing goes on', async () => {
    const { db, checkpointer } = await checkpointedChain();
    const archiveDirectory = path.join(directory!, 'archive');
    // Every row so far occurred before now: archive them all (the archiving row itself stays).
    const archived = await archiveAudit(db.db, { before: new Date(Date.now() + 1000), directory: archiveDirectory, by: 'alice' });
    expect(archived.archived).toBe(150);
    await appendRows(db, 3);
    expect(await checkpointer.checkpointOnce()).toMatchObject({ state: 'published', checkpoint: { size: 154n } });
    const result = await verify(db);
    expect(result.code).toBe(0);
    expect(result.out).toContain('4 signed by');
    expect(result.out).toContain('1 compared with the chain (3 more cover archived rows: `jml audit verify --archive <file>` checks those)');
  });

  it('passes an untouched chain and says what the checkpoints vouch for', async () => {
    const { db } = await checkpointedChain();
    const result = await verify(db);
    expect(result.code).toBe(0);
    expect(result.out).toContain(`Signed checkpoints in ${directory}: 3 signed by ${key.text}, 3 compared with the chain; latest: seq 150`);
    expect(result.out).toContain('The chain extends every one of them');
  });

  it('names a row edited by a superuser', async () => {
    const { db } = await checkpointedChain();
    await asSuperuser(db, [`UPDATE audit_event SET actor = 'mallory' WHERE seq = 77`]);
    const result = await verify(db);
    expect(result.code).toBe(1);
    expect(result.out).toContain('Audit chain BROKEN at seq 77: entry hash mismatch (row content edited).');
  });

  it('names the last 10 rows deleted and the head moved back', async () => {
    const { db } = await checkpointedChain();
    const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE seq = 140');
    await asSuperuser(db, ['DELETE FROM audit_event WHERE seq > 140', `UPDATE audit_chain_head SET seq = 140, hash = '${row!.hash}'`]);
    const result = await verify(db);
    expect(result.code).toBe(1);
    // The shorter chain is valid in itself: only the checkpoint shows what is gone.
    expect(result.out).toContain('Audit chain intact: 140 rows verified');
    expect(result.out).toContain(`truncated: the chain's head is at seq 140, but checkpoint ${path.join(directory!, checkpointFileName(150n))}`);
    expect(result.out).toContain('rows 141..150 were deleted and the head moved back (truncated tail)');
  });

  it('names a chain recomputed from row 100 to a new head', async () => {
    const { db } = await checkpointedChain();
    const rows = await db.query<{ seq: string; occurred_at: Date; actor: string; action: string; identity_id: string | null; event_id: string | null; system: string | null; data: JsonValue; prev_hash: string }>(
      'SELECT seq::text, occurred_at, actor, action, identity_id, event_id, system, data, prev_hash FROM audit_event WHERE seq >= 100 ORDER BY seq',
    );
    let previous = rows[0]!.prev_hash;
    const statements: string[] = [];
    for (const row of rows) {
      const actor = row.seq === '100' ? 'mallory' : row.actor;
      const leaf = entryHash({ occurredAt: row.occurred_at, actor, action: row.action, identityId: row.identity_id, eventId: row.event_id, system: row.system, data: row.data });
      const hash = chainHash({ entryHash: leaf, prevHash: previous, seq: BigInt(row.seq) });
      statements.push(`UPDATE audit_event SET actor = '${actor}', entry_hash = '${leaf}', prev_hash = '${previous}', hash = '${hash}' WHERE seq = ${row.seq}`);
      previous = hash;
    }
    statements.push(`UPDATE audit_chain_head SET hash = '${previous}'`);
    await asSuperuser(db, statements);
    const result = await verify(db);
    expect(result.code).toBe(1);
    expect(result.out).toContain('Audit chain intact: 150 rows verified');
    expect(result.out).toContain(`rewritten: row 120's hash is`);
    expect(result.out).toContain(`the chain was rewritten after seq 50 (checkpoint ${path.join(directory!, checkpointFileName(50n))} still matches) and at or before seq 120, its hashes recomputed to a new head`);
  });

  it('names a checkpoint file replaced by one signed with another key', async () => {
    const { db } = await checkpointedChain();
    // The forger even reuses the log's key name; without the private key the signature cannot match.
    const forger = parseSignerKey(generateSignerKey(key.name));
    const file = path.join(directory!, checkpointFileName(150n));
    const [head] = await db.query<{ hash: string }>('SELECT hash FROM audit_chain_head');
    await rm(file);
    await writeFile(file, signCheckpoint({ size: 150n, hash: head!.hash, time: new Date() }, forger));
    const result = await verify(db);
    expect(result.code).toBe(1);
    expect(result.out).toContain(`forged: checkpoint ${file} is not signed by the trusted key: it is signed by ${forger.name}+${forger.id.toString('hex')}, not by the trusted key ${key.name}+${key.id.toString('hex')}; it was replaced or forged`);
  });
});
