// The recorded verifications evidence cites (decision 016): a full verification first, then only
// the rows integrated since the last good one, nothing recorded when nothing changed, and an edit
// found by whichever verification covers it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { ChainVerifier, latestVerification } from '../../src/audit/chain-verifier.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeEach(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  await database.drop();
});

async function appendRows(count: number) {
  await database.db.$transaction((tx) => appendAudit(tx, Array.from({ length: count }, (_, n) => ({ actor: 'okta', action: 'test.row', data: { n } }))));
  await integrated(database.db);
}

const recorded = async () => (await database.query<{ count: number }>('SELECT count(*)::int AS count FROM audit_verification'))[0]!.count;

describe('chain verifier', () => {
  it('verifies the whole chain, then only what was integrated since, and records nothing when nothing changed', async () => {
    const verifier = new ChainVerifier({ db: database.db });
    await appendRows(5);
    expect(await verifier.verifyOnce({ full: true })).toMatchObject({ ok: true, fromSeq: 0n, throughSeq: 5n, rowsChecked: 5n, verifiedBy: 'background' });
    await appendRows(3);
    expect(await verifier.verifyOnce()).toMatchObject({ ok: true, fromSeq: 5n, throughSeq: 8n, rowsChecked: 3n });
    expect(await recorded()).toBe(2);
    expect(await verifier.verifyOnce()).toMatchObject({ throughSeq: 8n });
    expect(await recorded()).toBe(2);
  });

  it('finds an edit after the last good verification incrementally, and one before it only in a full verification', async () => {
    const verifier = new ChainVerifier({ db: database.db });
    await appendRows(4);
    await verifier.verifyOnce({ full: true });
    await appendRows(2);
    await database.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    await database.query(`UPDATE audit_event SET actor = 'mallory' WHERE seq IN (2, 6)`);
    await database.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    expect(await verifier.verifyOnce()).toMatchObject({ ok: false, fromSeq: 4n, firstBroken: { seq: 6n } });
    expect(await verifier.verifyOnce({ full: true })).toMatchObject({ ok: false, fromSeq: 0n, firstBroken: { seq: 2n, reason: 'entry hash mismatch (row content edited)' } });
    expect(await latestVerification(database.db)).toMatchObject({ ok: false, firstBroken: { seq: 2n } });
  });
});
