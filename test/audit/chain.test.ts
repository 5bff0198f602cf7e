// The audit trail against the real PostgreSQL: chained rows (once the integrator has linked
// them), and a table that refuses edits.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { chainHash, entryHash, GENESIS_HASH } from '../../src/audit/chain.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

describe('audit trail', () => {
  it('chains each row to the one before, starting from the genesis hash', async () => {
    await database.db.$transaction((tx) =>
      appendAudit(tx, [
        { actor: 'okta', action: 'scim.user.created', data: { b: 1, a: [true, null] } },
        { actor: 'system', action: 'lifecycle.leaver.detected', data: {} },
      ]),
    );
    const rows = await (await integrated(database.db)).auditEvent.findMany({ orderBy: { seq: 'asc' } });
    expect(rows.map((row) => row.seq)).toEqual([1n, 2n]);
    expect(rows[0]!.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]!.prevHash).toBe(rows[0]!.hash);
    for (const row of rows) {
      // Recomputed from what PostgreSQL gives back (jsonb reorders keys): the same hashes.
      expect(entryHash({ ...row, data: row.data as never })).toBe(row.entryHash);
      expect(chainHash({ entryHash: row.entryHash!, prevHash: row.prevHash!, seq: row.seq! })).toBe(row.hash);
    }
    const head = await database.db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } });
    expect(head).toEqual({ id: 1, seq: 2n, hash: rows[1]!.hash });
  });

  it('keeps the chain gapless when transactions append concurrently', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        database.db.$transaction((tx) => appendAudit(tx, [{ actor: `client-${index}`, action: 'test.concurrent' }])),
      ),
    );
    const rows = await (await integrated(database.db)).auditEvent.findMany({ orderBy: { seq: 'asc' } });
    expect(rows).toHaveLength(22);
    rows.forEach((row, index) => {
      expect(row.seq).toBe(BigInt(index + 1));
      if (index > 0) expect(row.prevHash).toBe(rows[index - 1]!.hash);
    });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of audit rows', async () => {
    await expect(database.query(`UPDATE audit_event SET actor = 'mallory'`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(database.query('DELETE FROM audit_event')).rejects.toThrow(/append-only: DELETE/);
    await expect(database.query('TRUNCATE audit_event')).rejects.toThrow(/append-only: TRUNCATE/);
  });

  it("computes a row's chain hash over the canonical JSON of its link, whatever its strings hold", () => {
    // chainHash writes that JSON out by hand for speed: it must stay byte for byte canonicalJson's.
    for (const [entry, prev, seq] of [
      ['a'.repeat(64), GENESIS_HASH, 1n],
      ['"quoted\\"', 'é\u2028\n', 12345678901234567890n],
      ['', '</script>', 0n],
    ] as const) {
      const canonical = canonicalJson({ entryHash: entry, prevHash: prev, seq: seq.toString(), v: 2 });
      const expected = createHash('sha256').update(Buffer.from([0x01])).update(canonical).digest('hex');
      expect(chainHash({ entryHash: entry, prevHash: prev, seq })).toBe(expected);
    }
  });

  it('serialises canonically: sorted keys, no whitespace, dates as ISO strings', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, undefined], c: new Date(0) }, e: undefined })).toBe(
      '{"a":{"c":"1970-01-01T00:00:00.000Z","d":[1,null]},"b":1}',
    );
  });
});
