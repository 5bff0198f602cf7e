// Retention: old rows leave for an archive file, verification of what stays starts at the
// checkpoint, the file re-verifies on its own, and nothing else can be deleted.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { archiveAudit, verifyArchiveFile } from '../../src/audit/archive.js';
import { GENESIS, verifyChain } from '../../src/audit/verify.js';
import { auditCommand } from '../../src/cli/audit.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
const directory = mkdtempSync(path.join(tmpdir(), 'jml-archive-'));
const january = (day: number) => new Date(Date.UTC(2026, 0, day, 12));

async function append(actor: string, at: Date) {
  await database.db.$transaction((tx) => appendAudit(tx, [{ actor, action: 'test.row', data: { actor, nested: { b: [1, 'two'], a: null } } }], at));
}

beforeAll(async () => {
  database = await createTestDatabase();
  for (let day = 1; day <= 5; day++) await append(`old-${day}`, january(day));
  for (let day = 20; day <= 22; day++) await append(`recent-${day}`, january(day));
});

afterAll(async () => {
  await database.drop();
  rmSync(directory, { recursive: true, force: true });
});

describe('audit retention', () => {
  let first: Awaited<ReturnType<typeof archiveAudit>>;

  it('archives the rows before a date to a file, with a checkpoint and a row of its own in the chain', async () => {
    first = await archiveAudit(database.db, { before: january(10), directory, by: 'alice' });
    expect(first).toMatchObject({ archived: 5, firstSeq: 1n, throughSeq: 5n, file: path.join(directory, 'audit-1-5.jsonl') });
    await integrated(database.db);
    const remaining = await database.query<{ seq: string; actor: string; action: string }>('SELECT seq, actor, action FROM audit_event ORDER BY seq');
    expect(remaining.map((row) => [Number(row.seq), row.actor, row.action])).toEqual([
      [6, 'recent-20', 'test.row'], [7, 'recent-21', 'test.row'], [8, 'recent-22', 'test.row'], [9, 'alice', 'audit.archived'],
    ]);
    const [checkpoint] = await database.query<{ seq: string; first_seq: string; rows: string; file_sha256: string; archived_by: string }>('SELECT * FROM audit_checkpoint');
    expect(checkpoint).toMatchObject({ seq: '5', first_seq: '1', rows: '5', file_sha256: first.fileSha256, archived_by: 'alice' });
    expect(readFileSync(first.file!, 'utf8').trim().split('\n')).toHaveLength(5);
  });

  it('verifies what stays from the checkpoint, and the file from the genesis to the checkpoint', async () => {
    expect(await verifyChain(database.db)).toMatchObject({ ok: true, rowsChecked: 4, head: { seq: 9n } });
    const [checkpoint] = await database.db.auditCheckpoint.findMany();
    expect(await verifyArchiveFile(first.file!, GENESIS, checkpoint)).toMatchObject({ ok: true, rowsChecked: 5 });
    const output: string[] = [];
    const io = { out: (text: string) => output.push(text), err: (text: string) => output.push(text) };
    expect(await auditCommand(database.db, { action: 'verify', archive: first.file }, io)).toBe(0);
    expect(output.join('')).toContain('Archive audit-1-5.jsonl intact: 5 rows verified');
  });

  it('detects an archive file edited after the fact', async () => {
    const edited = path.join(directory, 'edited', 'audit-1-5.jsonl');
    const lines = readFileSync(first.file!, 'utf8').split('\n');
    lines[2] = lines[2]!.replace('"old-3"', '"someone-else"');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(edited), { recursive: true }));
    writeFileSync(edited, lines.join('\n'));
    const [checkpoint] = await database.db.auditCheckpoint.findMany();
    const check = await verifyArchiveFile(edited, GENESIS, checkpoint);
    expect(check).toMatchObject({ ok: false, firstBroken: { seq: 3n, reason: 'entry hash mismatch (row content edited)' } });
  });

  it('still refuses every other deletion, and verify still catches one made with the trigger off', async () => {
    await expect(database.query('DELETE FROM audit_event WHERE seq = 7')).rejects.toThrow(/append-only: DELETE/);
    await expect(database.query('DELETE FROM audit_checkpoint')).rejects.toThrow(/append-only: DELETE/);
    // The archiving setting covers only rows a checkpoint stands for.
    await expect(database.query(`BEGIN; SELECT set_config('jml.audit_archive_through', '8', true); DELETE FROM audit_event WHERE seq = 7; COMMIT;`)).rejects.toThrow(/append-only: DELETE/);
    await database.query('ROLLBACK').catch(() => {});
    await database.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    await database.query('DELETE FROM audit_event WHERE seq = 7');
    await database.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    expect(await verifyChain(database.db)).toMatchObject({ ok: false, firstBroken: { seq: 7n, reason: 'gap: row 7 missing (deleted)' } });
  });

  it('refuses to archive a broken chain', async () => {
    const output: string[] = [];
    const io = { out: (text: string) => output.push(text), err: (text: string) => output.push(text) };
    const code = await auditCommand(database.db, { action: 'archive', before: '2026-02-01', out: path.join(directory, 'second'), by: 'alice' }, io);
    expect(code).toBe(1);
    expect(output.join('')).toContain('the audit chain is broken at seq 7');
    expect(await database.query('SELECT 1 FROM audit_checkpoint')).toHaveLength(1);
  });

  it('asks for --out and a valid --before', async () => {
    const output: string[] = [];
    const io = { out: (text: string) => output.push(text), err: (text: string) => output.push(text) };
    expect(await auditCommand(database.db, { action: 'archive', before: 'soon' }, io)).toBe(2);
    expect(output.join('')).toMatch(/--before|--out/);
  });

  it('archives again from the last checkpoint, and each file verifies from the checkpoint before it', async () => {
    const second = await createTestDatabase();
    try {
      const at = (day: number) => new Date(Date.UTC(2026, 2, day, 12));
      for (let day = 1; day <= 6; day++) await second.db.$transaction((tx) => appendAudit(tx, [{ actor: `p-${day}`, action: 'test.row' }], at(day)));
      const out = path.join(directory, 'twice');
      const one = await archiveAudit(second.db, { before: at(3), directory: out, by: 'bob' });
      const two = await archiveAudit(second.db, { before: at(6), directory: out, by: 'bob' });
      expect([one.firstSeq, one.throughSeq, two.firstSeq, two.throughSeq]).toEqual([1n, 2n, 3n, 5n]);
      const checkpoints = await second.db.auditCheckpoint.findMany({ orderBy: { seq: 'asc' } });
      expect(await verifyArchiveFile(one.file!, GENESIS, checkpoints[0])).toMatchObject({ ok: true, rowsChecked: 2 });
      expect(await verifyArchiveFile(two.file!, { seq: checkpoints[0]!.seq, hash: checkpoints[0]!.hash }, checkpoints[1])).toMatchObject({ ok: true, rowsChecked: 3 });
      // What stays: day 6, and the two archivings' own rows (they happened now, not in March).
      const remaining = await second.query<{ action: string }>('SELECT action FROM audit_event ORDER BY seq');
      expect(remaining.map((row) => row.action)).toEqual(['test.row', 'audit.archived', 'audit.archived']);
      expect(await verifyChain(await integrated(second.db))).toMatchObject({ ok: true, rowsChecked: 3 });
    } finally {
      await second.drop();
    }
  });
});
