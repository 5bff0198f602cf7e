// `jml evidence` after a scripted leaver through a whole jml: who Ada is now, her joiner and
// leaver with each system's outcome, every audit row about her, and whether those rows verify.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { appendAudit } from '../../src/audit/append.js';
import { ChainVerifier, verifyAndRecord } from '../../src/audit/chain-verifier.js';
import { buildEvidence, evidenceText } from '../../src/audit/evidence.js';
import { evidenceCommand } from '../../src/cli/evidence.js';
import { integrated } from '../support/audit.js';
import { startTestSystem, type TestSystem } from '../support/system.js';
import { actionLines, adaLeaves, type ActionLine, type Scenario } from './scenario.js';

const expected = JSON.parse(readFileSync(new URL('leaver-scenario.expected.json', import.meta.url), 'utf8')) as ActionLine[];

let jml: TestSystem;
let scenario: Scenario;

beforeAll(async () => {
  jml = await startTestSystem();
  scenario = await adaLeaves(jml);
  await verifyAndRecord(await integrated(jml.system.db), 'jml audit verify');
});

afterAll(async () => {
  await jml.close();
});

function captured() {
  const output = { out: '', err: '' };
  return { output, io: { out: (text: string) => void (output.out += text), err: (text: string) => void (output.err += text) } };
}

describe('evidence', () => {
  it("tells Ada's whole story, by userName or by id, with every row verified", async () => {
    const report = await buildEvidence(jml.system.db, 'Ada');
    expect(await buildEvidence(jml.system.db, scenario.identityId)).toMatchObject({ people: [{ identity: { id: scenario.identityId } }] });
    expect(report.people).toHaveLength(1);
    const [ada] = report.people;
    expect(ada!.identity).toMatchObject({ id: scenario.identityId, userName: 'ada', externalId: 'emp-ada', email: 'ada@example.com', active: false, deletedAt: null });

    expect(ada!.events.map((event) => ({ id: event.id, kind: event.kind, status: event.status, actor: event.actor }))).toEqual([
      { id: scenario.joinerId, kind: 'joiner', status: 'completed', actor: 'okta-test' },
      { id: scenario.leaverId, kind: 'leaver', status: 'completed', actor: 'okta-test' },
    ]);
    const leaver = ada!.events[1]!;
    expect(leaver.targets.map(({ system, action, status, attempts }) => ({ system, action, status, attempts }))).toEqual([
      { system: 'mendix', action: 'deactivate', status: 'succeeded', attempts: 1 },
      { system: 'rocketchat', action: 'deactivate', status: 'verified', attempts: 1 },
      { system: 'userapi', action: 'deactivate', status: 'verified', attempts: 1 },
    ]);
    // Only a read proves it; Mendix documents none, and the evidence says exactly that.
    expect(leaver.targets.map((target) => target.proof)).toEqual([
      'accepted by the vendor, no read API to verify',
      expect.stringMatching(/^verified: a read of the account showed the change at 20\d\d-/),
      expect.stringMatching(/^verified: a read of the account showed the change at 20\d\d-/),
    ]);
    expect(leaver.targets.map((target) => target.verifiedAt === null)).toEqual([true, false, false]);
    // Each confirmation is the moment its audit row was written.
    for (const target of leaver.targets) {
      const row = ada!.audit.find((entry) => entry.action === 'target.deactivate.succeeded' && entry.system === target.system);
      expect(target.confirmedAt).toBe(row!.occurredAt);
    }

    expect(actionLines(scenario, ada!.audit)).toEqual(expected);
    expect(ada!.rows).toEqual({ checked: expected.length, failed: [], pending: [], proven: expected.length, unverified: [] });
    // The whole chain, as last verified, also holds the test harness's token creation.
    expect(report.chain).toMatchObject({
      verification: { ok: true, fromSeq: 0n, rowsChecked: BigInt(expected.length + 1), throughSeq: BigInt(expected.length + 1), verifiedBy: 'jml audit verify' },
      head: { seq: BigInt(expected.length + 1) },
      pending: { rows: 0 },
    });

    const text = evidenceText(report);
    expect(text).toContain(`leaver ${scenario.leaverId}: completed`);
    expect(text).toMatch(/rocketchat +deactivate +verified +confirmed 20\d\d-/);
    expect(text).toMatch(/mendix +deactivate +succeeded +confirmed 20\d\d-.*\n +accepted by the vendor, no read API to verify\n/);
    expect(text).toContain(`These ${expected.length} rows verify`);
    expect(text).toContain(`Whole chain: verified intact up to seq ${expected.length + 1}, hash `);
  });

  it('answers 1 for nobody by that name, 2 for a bad format, and prints JSON', async () => {
    const { output, io } = captured();
    expect(await evidenceCommand(jml.system.db, { subject: 'nobody' }, io)).toBe(1);
    expect(output.err).toContain('No identity has the id or userName "nobody"');
    expect(await evidenceCommand(jml.system.db, { subject: 'ada', format: 'pdf' }, io)).toBe(2);
    expect(await evidenceCommand(jml.system.db, { subject: 'ada', format: 'json' }, io)).toBe(0);
    const json = JSON.parse(output.out) as { people: { audit: unknown[] }[]; chain: unknown };
    expect(json.people[0]!.audit).toHaveLength(expected.length);
    expect(json.chain).toMatchObject({ verification: { ok: true, throughSeq: String(expected.length + 1) }, head: { seq: String(expected.length + 1) } });
  });

  it('says which of her rows are not integrated into the chain yet', async () => {
    // Holding the integrator's lock keeps the server's integrator from linking the new row.
    const holder = new pg.Client({ connectionString: jml.database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(1785555970)');
      await jml.system.db.$transaction((tx) => appendAudit(tx, [{ actor: 'auditor', action: 'test.note', identityId: scenario.identityId }]));
      const [row] = await jml.database.query<{ id: string }>(`SELECT id::text AS id FROM audit_event WHERE action = 'test.note'`);
      const report = await buildEvidence(jml.system.db, 'ada');
      expect(report.people[0]!.rows).toEqual({ checked: expected.length + 1, failed: [], pending: [Number(row!.id)], proven: expected.length, unverified: [] });
      expect(report.people[0]!.audit.at(-1)).toMatchObject({ action: 'test.note', seq: null, hash: null });
      expect(report.chain.pending.rows).toBe(1);
      const text = evidenceText(report);
      expect(text).toContain(`(id ${row!.id}, not yet integrated)`);
      expect(text).toContain(`1 of them not yet integrated into the chain (ids ${row!.id})`);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    await integrated(jml.system.db);
    expect((await buildEvidence(jml.system.db, 'ada')).people[0]!.rows.pending).toEqual([]);
  });

  it("names the row of Ada's that a superuser edited, and the broken chain", async () => {
    const [row] = await jml.database.query<{ id: string; seq: string }>(`SELECT id::text AS id, seq::text AS seq FROM audit_event WHERE action = 'lifecycle.leaver.detected'`);
    await jml.database.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    await jml.database.query(`UPDATE audit_event SET actor = 'mallory' WHERE seq = $1`, [row!.seq]);
    await jml.database.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');

    // Her own rows are checked per request; the whole chain as of the next full verification.
    const report = await buildEvidence(jml.system.db, 'ada');
    expect(report.people[0]!.rows.failed).toEqual([{ id: Number(row!.id), seq: Number(row!.seq), problem: 'entry hash mismatch (row content edited)' }]);
    expect(evidenceText(report)).toContain(`#${row!.seq}: entry hash mismatch (row content edited)`);
    await new ChainVerifier({ db: jml.system.db }).verifyOnce({ full: true });
    const after = await buildEvidence(jml.system.db, 'ada');
    expect(after.chain.verification).toMatchObject({ ok: false, verifiedBy: 'background', firstBroken: { seq: BigInt(row!.seq), reason: 'entry hash mismatch (row content edited)' } });
    expect(evidenceText(after)).toContain(`Whole chain: BROKEN at seq ${row!.seq}: entry hash mismatch (row content edited)`);
  });
});
