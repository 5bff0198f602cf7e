// `jml audit verify` against the real PostgreSQL: an intact chain verifies, and each way a
// superuser could tamper with it (edit a row, edit and re-hash it, delete a row in the middle or
// at the end) is detected and the first broken row named.
import { afterEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { chainHash, entryHash, GENESIS_HASH, hashAuditRow } from '../../src/audit/chain.js';
import type { JsonValue } from '../../src/audit/canonical.js';
import { verifyChain } from '../../src/audit/verify.js';
import { auditCommand } from '../../src/cli/audit.js';
import { integrated } from '../support/audit.js';
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
  await integrated(db);
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
    expect(await verifyChain(db.db, { batchSize: 3 })).toEqual({ ok: true, rowsChecked: 10, head: { seq: 10n, hash: head.hash }, pending: { rows: 0, oldestAppendedAt: null } });

    const { output, io } = captured();
    expect(await auditCommand(db.db, { action: 'verify' }, io)).toBe(0);
    expect(output.out).toBe(`Audit chain intact: 10 rows verified, head at seq 10, hash ${head.hash}.\nEvery committed row is integrated.\n`);
  });

  it('passes an empty chain', async () => {
    database = await createTestDatabase();
    expect(await verifyChain(database.db)).toMatchObject({ ok: true, rowsChecked: 0, head: { seq: 0n } });
  });

  it('names a row edited in place as an entry hash mismatch, and a changed hash as a hash mismatch', async () => {
    const db = await chainOf(10);
    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET actor = 'mallory' WHERE seq = 4`);
    expect(await verifyChain(db.db, { batchSize: 3 })).toMatchObject({ ok: false, rowsChecked: 3, firstBroken: { seq: 4n, reason: 'entry hash mismatch (row content edited)' } });

    const { output, io } = captured();
    expect(await auditCommand(db.db, { action: 'verify' }, io)).toBe(1);
    expect(output.out).toBe('Audit chain BROKEN at seq 4: entry hash mismatch (row content edited).\n3 rows before it verified.\nEvery committed row is integrated.\n');

    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET hash = repeat('b', 64) WHERE seq = 2`);
    expect((await verifyChain(db.db)).firstBroken).toEqual({ seq: 2n, reason: 'hash mismatch (row edited)' });
  });

  it("names the next row when an edited row's hashes were recomputed to hide the edit", async () => {
    const db = await chainOf(10);
    const [row] = await db.db.auditEvent.findMany({ where: { seq: 6n } });
    const forgedEntry = entryHash({ ...row!, data: { n: 6, note: 'nothing to see' } });
    const forgedHash = chainHash({ entryHash: forgedEntry, prevHash: row!.prevHash!, seq: 6n });
    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET data = '{"n": 6, "note": "nothing to see"}', entry_hash = '${forgedEntry}', hash = '${forgedHash}' WHERE seq = 6`);
    expect(await verifyChain(db.db)).toMatchObject({ ok: false, rowsChecked: 6, firstBroken: { seq: 7n, reason: "prev_hash does not match the previous row's hash" } });
  });

  it('reports rows not yet integrated without counting them as broken; the command integrates them first', async () => {
    const db = await chainOf(4);
    await db.db.$transaction((tx) => appendAudit(tx, [{ actor: 'okta', action: 'test.pending' }, { actor: 'okta', action: 'test.pending' }]));
    const result = await verifyChain(db.db);
    expect(result).toMatchObject({ ok: true, rowsChecked: 4, head: { seq: 4n }, pending: { rows: 2 } });
    expect(result.pending.oldestAppendedAt).toBeInstanceOf(Date);

    const { output, io } = captured();
    expect(await auditCommand(db.db, { action: 'verify' }, io)).toBe(0);
    expect(output.out).toMatch(/^Audit chain intact: 6 rows verified, head at seq 6, hash [0-9a-f]{64}\.\nEvery committed row is integrated\.\n$/);
  });

  it('verifies rows chained at insert before decision 016 (version 1) followed by integrated rows', async () => {
    database = await createTestDatabase();
    const { db } = database;
    // Version 1 rows as appendAudit wrote them until decision 016, written as the owner would.
    let previous = GENESIS_HASH;
    for (const seq of [1n, 2n]) {
      const content = { occurredAt: new Date('2026-11-30T12:00:00.000Z'), actor: 'okta', action: 'test.v1', identityId: null, eventId: null, system: null, data: { seq: Number(seq) } };
      const hash = hashAuditRow({ ...content, seq, prevHash: previous });
      await database.query(
        `INSERT INTO audit_event (seq, occurred_at, actor, action, data, prev_hash, hash, chain_version, appended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, NULL)`,
        [seq.toString(), content.occurredAt, content.actor, content.action, JSON.stringify(content.data), previous, hash],
      );
      previous = hash;
    }
    await database.query('UPDATE audit_chain_head SET seq = 2, hash = $1', [previous]);
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'okta', action: 'test.v2' }]));
    await integrated(db);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 3, head: { seq: 3n } });
    const [third] = await db.auditEvent.findMany({ where: { seq: 3n } });
    expect(third).toMatchObject({ chainVersion: 2, prevHash: previous });

    await asSuperuserWithoutTrigger(database, `UPDATE audit_event SET actor = 'mallory' WHERE seq = 1`);
    expect((await verifyChain(db)).firstBroken).toEqual({ seq: 1n, reason: 'hash mismatch (row edited)' });
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
    const forgedEntry = entryHash({ ...row!, actor: 'mallory', data: row!.data as JsonValue });
    const forgedHash = chainHash({ entryHash: forgedEntry, prevHash: row!.prevHash!, seq: 3n });
    await asSuperuserWithoutTrigger(db, `UPDATE audit_event SET actor = 'mallory', entry_hash = '${forgedEntry}', hash = '${forgedHash}' WHERE seq = 3`);
    expect((await verifyChain(db.db)).firstBroken).toEqual({ seq: 3n, reason: "chain head does not match the last row: row 3's hash differs from the head's" });
  });
});
