// The audit integrator against the real PostgreSQL (docs/decisions/016-audit-integration.md):
// appends no longer wait for each other, the integrator links committed rows gap-free in id
// order, a late commit gets a later seq, a dead integrator leaves nothing half done, and the
// chain hash computed in SQL is the one src/audit/chain.ts computes.
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, auditInsertSql } from '../../src/audit/append.js';
import { chainHash, entryHash, GENESIS_HASH } from '../../src/audit/chain.js';
import type { JsonValue } from '../../src/audit/canonical.js';
import { AuditIntegrator } from '../../src/audit/integrator.js';
import { verifyChain } from '../../src/audit/verify.js';
import { sqlOf } from '../../src/db/sql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeEach(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  await database.drop();
});

/** A promise and the function that settles it. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

/** A transaction that has appended one row and stays open until commit() is called. */
async function openAppend(action: string): Promise<{ commit: () => Promise<void> }> {
  const appended = signal();
  const release = signal();
  const transaction = database.db.$transaction(async (tx) => {
    await appendAudit(tx, [{ actor: 'okta', action }]);
    appended.fire();
    await release.promise;
  });
  await appended.promise;
  return {
    commit: async () => {
      release.fire();
      await transaction;
    },
  };
}

describe('audit integration', () => {
  it('lets two open transactions append and commit without waiting for each other', async () => {
    const { db } = database;
    const first = await openAppend('test.first');
    // With the old chain-head lock this append waited for the first transaction's commit, which
    // waits for this one: the lock timeout would fail it.
    await db.$transaction(async (tx) => {
      await tx.$executeRaw`SET LOCAL lock_timeout = '2s'`;
      await appendAudit(tx, [{ actor: 'okta', action: 'test.second' }]);
    });
    await first.commit();
    const rows = await db.auditEvent.findMany({ orderBy: { id: 'asc' } });
    expect(rows.map((row) => [row.action, row.seq, row.hash])).toEqual([
      ['test.first', null, null],
      ['test.second', null, null],
    ]);
  });

  it('links committed rows gap-free in id order, with the hashes chain.ts computes', async () => {
    const { db } = database;
    for (let request = 0; request < 4; request += 1) {
      await db.$transaction((tx) =>
        appendAudit(tx, [
          { actor: `client-${request}`, action: 'test.row', data: { request, b: [1, { z: null, a: 'é"' }] } },
          { actor: 'system', action: 'test.row', identityId: '00000000-0000-4000-8000-000000000001', system: 'mendix' },
        ]),
      );
    }
    const integrator = new AuditIntegrator({ db, batchSize: 3 });
    const batch = await integrator.integrateOnce();
    expect(batch).toMatchObject({ integrated: 3, busy: false, head: { seq: 3n } });
    expect(batch.delaysMs).toHaveLength(3);
    expect(await integrator.integrateAll()).toBe(5);

    const rows = await db.auditEvent.findMany({ orderBy: { id: 'asc' } });
    let previous = GENESIS_HASH;
    rows.forEach((row, index) => {
      expect(row.seq).toBe(BigInt(index + 1));
      expect(row.chainVersion).toBe(2);
      expect(row.entryHash).toBe(entryHash({ ...row, data: row.data as JsonValue }));
      expect(row.prevHash).toBe(previous);
      expect(row.hash).toBe(chainHash({ entryHash: row.entryHash!, prevHash: previous, seq: row.seq! }));
      previous = row.hash!;
    });
    expect(await db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } })).toEqual({ id: 1, seq: 8n, hash: previous });
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 8, pending: { rows: 0 } });
    // Nothing left: a further pass changes nothing.
    expect(await integrator.integrateOnce()).toMatchObject({ integrated: 0, head: { seq: 8n, hash: previous } });
  });

  it('computes the chain hash in SQL byte for byte as in TypeScript', async () => {
    const cases = [
      { entryHash: 'a'.repeat(64), prevHash: GENESIS_HASH, seq: 1n },
      { entryHash: entryHash({ occurredAt: new Date(0), actor: 'x', action: 'y', identityId: null, eventId: null, system: null, data: {} }), prevHash: 'f'.repeat(64), seq: 9_007_199_254_740_993n },
    ];
    for (const link of cases) {
      const [row] = await database.query<{ hash: string }>('SELECT jml_audit_chain_hash($1, $2, $3) AS hash', [link.entryHash, link.prevHash, link.seq.toString()]);
      expect(row!.hash).toBe(chainHash(link));
    }
  });

  it('gives a row whose transaction commits late a later seq than rows integrated before it', async () => {
    const { db } = database;
    const late = await openAppend('test.late');
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'okta', action: 'test.early' }]));
    const integrator = new AuditIntegrator({ db });
    // The late row's insert is not visible to the integrator until it commits.
    expect(await integrator.integrateAll()).toBe(1);
    await late.commit();
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 1, pending: { rows: 1 } });
    expect(await integrator.integrateAll()).toBe(1);

    const rows = await db.auditEvent.findMany({ orderBy: { id: 'asc' } });
    expect(rows.map((row) => [row.action, row.seq])).toEqual([
      ['test.late', 2n],
      ['test.early', 1n],
    ]);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 2 });
  });

  it('integrates one batch at a time: a second integrator finds the lock taken and does nothing', async () => {
    const { db } = database;
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'okta', action: 'test.row' }]));
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(1785555970)');
      expect(await new AuditIntegrator({ db }).integrateOnce()).toEqual({ integrated: 0, busy: true, head: null, delaysMs: [] });
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    expect(await new AuditIntegrator({ db }).integrateAll()).toBe(1);
  });

  it('leaves nothing half done when the integrator dies mid-batch, and the next one continues', async () => {
    const { db } = database;
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'a', action: 'test.row' }, { actor: 'b', action: 'test.row' }]));
    const dying = new pg.Client({ connectionString: database.url });
    dying.on('error', () => {});
    await dying.connect();
    const [{ pid }] = (await dying.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    await dying.query('BEGIN');
    expect((await dying.query('SELECT integrated FROM jml_integrate(10)')).rows).toEqual([{ integrated: 2 }]);
    // The process dies before its COMMIT: PostgreSQL undoes the batch and frees the lock.
    await database.query('SELECT pg_terminate_backend($1)', [pid]);
    await dying.end().catch(() => undefined);

    expect(await database.query('SELECT count(*)::int AS pending FROM audit_event WHERE seq IS NULL')).toEqual([{ pending: 2 }]);
    expect(await db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } })).toMatchObject({ seq: 0n, hash: GENESIS_HASH });
    expect(await new AuditIntegrator({ db }).integrateAll()).toBe(2);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 2 });
  });

  it('refuses to rewrite chain columns once set, to set them wrong, or to change a pending row', async () => {
    const { db } = database;
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'a', action: 'test.row' }, { actor: 'b', action: 'test.row' }]));
    await database.query(`SELECT * FROM jml_integrate(1)`);
    await expect(database.query('UPDATE audit_event SET seq = 5 WHERE seq = 1')).rejects.toThrow(/append-only: UPDATE/);
    await expect(database.query(`UPDATE audit_event SET prev_hash = repeat('1', 64) WHERE seq = 1`)).rejects.toThrow(/append-only: UPDATE/);
    // A pending row: its chain columns may be set once, to the hash its link implies, nothing else.
    await expect(database.query(`UPDATE audit_event SET seq = 2, prev_hash = repeat('1', 64), hash = repeat('2', 64) WHERE seq IS NULL`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(database.query(`UPDATE audit_event SET actor = 'mallory' WHERE seq IS NULL`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(database.query('DELETE FROM audit_event WHERE seq IS NULL')).rejects.toThrow(/append-only: DELETE/);
    expect(await new AuditIntegrator({ db }).integrateAll()).toBe(1);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 2 });
  });

  it('writes one entry (scalars) and several (arrays) through the statement fragment, each with its leaf hash', async () => {
    // Decision 061: one entry is bound as scalars, several through unnest; the same parameter
    // numbers and entry.<column> names, so a caller's condition reads either shape.
    const { db } = database;
    const now = new Date('2026-12-02T10:00:00.123Z');
    const identityId = '6f1c1e8e-5b7a-4d1e-9a55-0c8a3b1f2d40';
    const one = auditInsertSql([{ actor: 'system', action: 'test.one', identityId, system: 'mendix', data: { n: 1, nested: { b: 2, a: [1] } } }], now, 2, `entry.system = $1`);
    await sqlOf(db).prepared(`WITH audit AS (${one.text}) SELECT 1`, ['mendix', ...one.values]);
    await sqlOf(db).prepared(`WITH audit AS (${one.text}) SELECT 1`, ['rocketchat', ...one.values]);
    const several = auditInsertSql(
      [
        { actor: 'okta', action: 'test.several', system: 'a' },
        { actor: 'okta', action: 'test.several', system: 'b', data: { quote: `it's "x"` } },
      ],
      now,
      2,
      `entry.system <> $1`,
    );
    await sqlOf(db).query(`WITH audit AS (${several.text}) SELECT 1`, ['b', ...several.values]);
    const rows = await db.auditEvent.findMany({ orderBy: { id: 'asc' } });
    expect(rows.map((row) => [row.action, row.identityId, row.system, row.data])).toEqual([
      ['test.one', identityId, 'mendix', { n: 1, nested: { a: [1], b: 2 } }],
      ['test.several', null, 'a', {}],
    ]);
    for (const row of rows) {
      expect(row.occurredAt).toEqual(now);
      expect(row.entryHash).toBe(entryHash({ ...row, data: row.data as JsonValue }));
    }
    expect(await new AuditIntegrator({ db }).integrateAll()).toBe(2);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rowsChecked: 2 });
  });

  it('tells whether rows wait: none in an empty trail, then the pending ones, none once linked', async () => {
    const { db } = database;
    const integrator = new AuditIntegrator({ db });
    expect(await integrator.pending()).toBe(false);
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'a', action: 'test.row' }]));
    await integrator.integrateAll();
    expect(await integrator.pending()).toBe(false);
    await db.$transaction((tx) => appendAudit(tx, [{ actor: 'b', action: 'test.row' }]));
    expect(await integrator.pending()).toBe(true);
    await integrator.integrateAll();
    expect(await integrator.pending()).toBe(false);
  });

  it('runs in the background: rows appended get integrated without being asked', async () => {
    const { db } = database;
    const batches: number[] = [];
    const integrator = new AuditIntegrator({ db, busyMs: 10, idleMs: 20, onBatch: (batch) => batches.push(batch.integrated) });
    integrator.start();
    try {
      await db.$transaction((tx) => appendAudit(tx, [{ actor: 'a', action: 'test.row' }]));
      await expect.poll(async () => (await verifyChain(db)).rowsChecked, { timeout: 10_000 }).toBe(1);
    } finally {
      await integrator.stop();
    }
    expect(batches).toEqual([1]);
  });
});
