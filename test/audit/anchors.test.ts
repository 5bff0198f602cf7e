// One person's evidence against the hashes a verification vouched for (decision 039): her rows are
// proven by recomputing the chain to the nearest verified anchor, the whole chain's status comes
// from the last recorded (cached) verification, and a rewrite of one of her rows with every hash
// after it recomputed, which her neighbours cannot show, is reported.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANCHOR_INTERVAL } from '../../src/audit/anchors.js';
import { appendAudit } from '../../src/audit/append.js';
import { chainHash, entryHash } from '../../src/audit/chain.js';
import type { JsonValue } from '../../src/audit/canonical.js';
import { ChainVerifier, verifyAndRecord } from '../../src/audit/chain-verifier.js';
import { buildEvidence, evidenceText } from '../../src/audit/evidence.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let grace: string;

// Rows of other people around hers, so the chain crosses several anchors (every 256 rows).
const BEFORE = 1500;
const AFTER = 700;

async function appendOthers(count: number): Promise<void> {
  for (let first = 0; first < count; first += 500) {
    const entries = Array.from({ length: Math.min(500, count - first) }, (_, n) => ({ actor: 'okta', action: 'test.other', data: { n: first + n } }));
    await database.db.$transaction((tx) => appendAudit(tx, entries));
  }
}

beforeEach(async () => {
  database = await createTestDatabase();
  ({ id: grace } = await database.db.identity.create({ data: { userName: 'grace', resource: {} }, select: { id: true } }));
  await appendOthers(BEFORE);
  await database.db.$transaction((tx) => appendAudit(tx, [0, 1, 2].map((n) => ({ actor: 'okta', action: 'test.grace', identityId: grace, data: { n } }))));
  await appendOthers(AFTER);
  await integrated(database.db);
});

afterEach(async () => {
  await database.drop();
});

/** As a superuser with the trigger off: rewrites row `seq`'s data and recomputes every hash after it, and the head. */
async function rewriteFrom(seq: number, data: JsonValue): Promise<void> {
  const rows = await database.db.auditEvent.findMany({ where: { seq: { gte: BigInt(seq) } }, orderBy: { seq: 'asc' } });
  const [before] = await database.query<{ hash: string }>('SELECT hash FROM audit_event WHERE seq = $1', [seq - 1]);
  let previous = before!.hash;
  const updates: { seq: bigint; entryHash: string; prevHash: string; hash: string; data: JsonValue }[] = [];
  for (const row of rows) {
    const at = row.seq!;
    const content = { ...row, data: at === BigInt(seq) ? data : (row.data as JsonValue) };
    const leaf = entryHash(content);
    const hash = chainHash({ entryHash: leaf, prevHash: previous, seq: at });
    updates.push({ seq: at, entryHash: leaf, prevHash: previous, hash, data: content.data });
    previous = hash;
  }
  await database.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
  await database.query(
    `UPDATE audit_event a SET data = u.data, entry_hash = u.entry_hash, prev_hash = u.prev_hash, hash = u.hash
       FROM unnest($1::bigint[], $2::jsonb[], $3::text[], $4::text[], $5::text[]) AS u(seq, data, entry_hash, prev_hash, hash) WHERE a.seq = u.seq`,
    [updates.map((u) => u.seq.toString()), updates.map((u) => JSON.stringify(u.data)), updates.map((u) => u.entryHash), updates.map((u) => u.prevHash), updates.map((u) => u.hash)],
  );
  await database.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
  await database.query('UPDATE audit_chain_head SET hash = $1 WHERE id = 1', [previous]);
}

describe('evidence against verified anchors', () => {
  it('proves her rows against the verification that reached them, and says which rows none has reached yet', async () => {
    await new ChainVerifier({ db: database.db }).verifyOnce({ full: true });
    const anchors = await database.query<{ seq: string }>('SELECT seq::text AS seq FROM audit_verified_anchor ORDER BY audit_verified_anchor.seq');
    const total = BEFORE + 3 + AFTER;
    expect(anchors.map((anchor) => Number(anchor.seq))).toEqual([...Array.from({ length: Math.floor(total / Number(ANCHOR_INTERVAL)) }, (_, n) => (n + 1) * Number(ANCHOR_INTERVAL)), total]);

    const report = await buildEvidence(database.db, 'grace');
    expect(report.people[0]!.rows).toEqual({ checked: 3, failed: [], pending: [], proven: 3, unverified: [] });
    expect(evidenceText(report)).toContain('3 of them are proven as verified');

    // A new row of hers, integrated but not yet verified: checked locally, named as awaiting verification.
    await database.db.$transaction((tx) => appendAudit(tx, [{ actor: 'auditor', action: 'test.grace', identityId: grace }]));
    await integrated(database.db);
    const [late] = await database.query<{ id: string }>(`SELECT id::text FROM audit_event WHERE actor = 'auditor'`);
    const after = await buildEvidence(database.db, 'grace');
    expect(after.people[0]!.rows).toEqual({ checked: 4, failed: [], pending: [], proven: 3, unverified: [Number(late!.id)] });
    expect(evidenceText(after)).toContain(`1 of them were integrated after the latest verification reached them (ids ${late!.id})`);
  });

  it('shows the whole chain as the last recorded verification found it, without verifying it per request', async () => {
    await verifyAndRecord(database.db, 'jml audit verify');
    // Someone else's row edited in place: her evidence still cites the cached, older verification...
    await database.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    await database.query(`UPDATE audit_event SET actor = 'mallory' WHERE seq = 10`);
    await database.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    const cached = await buildEvidence(database.db, 'grace');
    expect(cached.chain.verification).toMatchObject({ ok: true, verifiedBy: 'jml audit verify', throughSeq: BigInt(BEFORE + 3 + AFTER) });
    expect(cached.people[0]!.rows.failed).toEqual([]);
    // ...until the background verification runs again and its result is the one shown.
    await new ChainVerifier({ db: database.db }).verifyOnce({ full: true });
    const fresh = await buildEvidence(database.db, 'grace');
    expect(fresh.chain.verification).toMatchObject({ ok: false, verifiedBy: 'background', firstBroken: { seq: 10n } });
    expect(evidenceText(fresh)).toContain('Whole chain: BROKEN at seq 10: entry hash mismatch (row content edited)');
  });

  it('reports her row rewritten with every later hash recomputed, which her neighbours cannot show', async () => {
    await verifyAndRecord(database.db, 'jml audit verify');
    const [row] = await database.query<{ id: string; seq: string }>(`SELECT id::text, seq::text FROM audit_event WHERE action = 'test.grace' ORDER BY seq LIMIT 1`);
    await rewriteFrom(Number(row!.seq), { n: 'rewritten' });

    const report = await buildEvidence(database.db, 'grace');
    const [failed] = report.people[0]!.rows.failed;
    expect(failed).toMatchObject({ id: Number(row!.id), seq: Number(row!.seq) });
    expect(failed!.problem).toMatch(/^recomputing the chain from it to seq 1536 does not give the hash the verification of 20\d\d-.* vouched for: the chain was changed since$/);
    expect(report.people[0]!.rows.proven).toBe(0);
    expect(evidenceText(report)).toContain(`#${row!.seq}: recomputing the chain from it to seq 1536`);

    // The rewritten chain verifies in itself; the anchors recorded before are what give it away.
    const verification = await verifyAndRecord(database.db, 'jml audit verify');
    expect(verification).toMatchObject({ ok: false, firstBroken: { seq: 1536n } });
    expect(verification.firstBroken!.reason).toMatch(/^row 1536's hash is not the one the verification of .* vouched for .*: the chain was rewritten since/);
  });
});
