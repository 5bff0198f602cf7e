// `jml audit verify` against the real PostgreSQL: an intact chain verifies, and each way a
// superuser could tamper with it (edit a row, edit and re-hash it, delete a row in the middle or
// at the end) is detected and the first broken row named.
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { hashAuditRow } from '../../src/audit/chain.js';
import type { JsonValue } from '../../src/audit/canonical.js';
import { verifyChain } from '../../src/audit/verify.js';
import { auditCommand } from '../../src/cli/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase | undefined;

afterEach(async () => {
  await database?.drop();
  database = undefined;
});

/** A database with `count` chained rows, appended in transactions of three (like real requests). */
async function chainOf(count: number): Promise<TestDatabase> {
  database = await createTestDatabase();
  const { db } = database;
  for (let first = 1; first <= count; first += 3) {
    const entries = Array.from({ length: Math.min(3, count - first + 1) }, (_, index) => ({
      actor: first + index === 2 ? 'okta' : 'system',
      action: 'test.row',
      system: (first + index) % 2 === 0 ? 'mendix' : null,
      data: { n: first + index, note: 'quotes " and, commas' },
    }));
    await db.$transaction((tx) => appendAudit(tx, entries));
  }
  return database;
}

/** What a superuser can do: switch the append-only trigger off, change rows, switch it back on. */
async function asSuperuserWithoutTrigger(db: TestDatabase, sql: string): Promise<void> {
  await db.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
  try {
    await db.query(sql);
  } finally {
    await db.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
  }
}

function captured() {
  const output = { out: '', err: '' };
  return { output, io: { out: (text: string) => void (output.out += text), err: (text: string) => void (output.err += text) } };
}

describe('audit verify', () => {
  it('passes an intact chain read in several batches, and reports the head it reached', async () => {
    const db = await chainOf(10);
    const head = await db.db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } });
    expect(await verifyChain(db.db, { batchSize: 3 })).toEqual({ ok: true, rowsChecked: 10, head: { seq: 10n, hash: head.hash } });

    const { output, io } = captured();
    expect(await auditCommand(db.db, { action: 'verify' }, io)).toBe(0);
    expect(output.out).toBe(`Audit chain intact: 10 rows verified, head at seq 10, hash ${head.hash}.\n`);
  });

  it('passes an empty chain', async () => {
    database = await createTestDatabase();
    expect(await verifyChain(database.db)).toMatchObject({ ok: true, rowsChecked: 0, head: { seq: 0n } });
  });

  it('names a row edited in place as a hash mismatch', async () => {
    const db = await chainOf(10);
    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET actor = 'mallory' WHERE seq = 4`);
    expect(await verifyChain(db.db, { batchSize: 3 })).toMatchObject({ ok: false, rowsChecked: 3, firstBroken: { seq: 4n, reason: 'hash mismatch (row edited)' } });

    const { output, io } = captured();
    expect(await auditCommand(db.db, { action: 'verify' }, io)).toBe(1);
    expect(output.out).toBe('Audit chain BROKEN at seq 4: hash mismatch (row edited).\n3 rows before it verified.\n');
  });

  it("names the next row when an edited row's hash was recomputed to hide the edit", async () => {
    const db = await chainOf(10);
    const [row] = await db.db.auditEvent.findMany({ where: { seq: 6n } });
    const forged = { ...row!, data: { n: 6, note: 'nothing to see' } as JsonValue };
    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET data = '{"n": 6, "note": "nothing to see"}', hash = '${hashAuditRow(forged)}' WHERE seq = 6`);
    expect(await verifyChain(db.db)).toMatchObject({ ok: false, rowsChecked: 6, firstBroken: { seq: 7n, reason: "prev_hash does not match the previous row's hash" } });
  });

  it('names a deleted row as a gap', async () => {
    const db = await chainOf(10);
    await asSuperuserWithoutTrigger(db, 'DELETE FROM audit_event WHERE seq = 5');
    expect(await verifyChain(db.db)).toMatchObject({ ok: false, rowsChecked: 4, firstBroken: { seq: 5n, reason: 'gap: row 5 missing (deleted)' } });
    await asSuperuserWithoutTrigger(db, 'DELETE FROM audit_event WHERE seq IN (6, 7)');
    expect((await verifyChain(db.db)).firstBroken).toEqual({ seq: 5n, reason: 'gap: rows 5..7 missing (deleted)' });
  });

  it('names rows deleted from the start of the chain', async () => {
    const db = await chainOf(4);
    await asSuperuserWithoutTrigger(db, 'DELETE FROM audit_event WHERE seq = 1');
    expect((await verifyChain(db.db)).firstBroken).toEqual({ seq: 1n, reason: 'gap: row 1 missing (deleted)' });
  });

  it('names rows deleted from the end as a head that does not match the last row', async () => {
    const db = await chainOf(10);
    await asSuperuserWithoutTrigger(db, 'DELETE FROM audit_event WHERE seq >= 9');
    expect(await verifyChain(db.db)).toMatchObject({
      ok: false,
      rowsChecked: 8,
      firstBroken: { seq: 9n, reason: 'chain head does not match the last row: the head is at seq 10 but rows 9..10 are missing (deleted)' },
    });
  });

  it('names a last row replaced wholesale (hash recomputed) as a head mismatch', async () => {
    const db = await chainOf(3);
    const [row] = await db.db.auditEvent.findMany({ where: { seq: 3n } });
    const forged = { ...row!, actor: 'mallory', data: row!.data as JsonValue };
    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET actor = 'mallory', hash = '${hashAuditRow(forged)}' WHERE seq = 3`);
    expect((await verifyChain(db.db)).firstBroken).toEqual({ seq: 3n, reason: "chain head does not match the last row: row 3's hash differs from the head's" });
  });
});
