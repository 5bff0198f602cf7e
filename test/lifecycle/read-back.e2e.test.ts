// Issue 14's read-back, through the real workflow: a system that answers a deactivation with
// success and does not apply it (the simulators' lying fault) is caught by reading the account
// back. The target is never `verified`, the write is sent once (the same idempotency key), and
// after READ_BACK_ATTEMPTS contradicting reads the target needs attention. Mendix documents no
// read, so it can only ever be "accepted by the vendor, no read API to verify".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvidence } from '../../src/audit/evidence.js';
import { READ_BACK_ATTEMPTS } from '../../src/activities/target-action.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

let jml: TestSystem;

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_RETRY_INITIAL_MS: '100', JML_GUARD_ENABLED: 'false' } });
});

afterAll(async () => {
  await jml.close();
});

async function leaver(userName: string, externalId: string) {
  const { simulators } = jml.simulators;
  const seeded = simulators.seedFromIdentity({ userName, email: `${userName}@example.com`, externalId });
  const created = await jml.scim.post('/Users', {
    schemas: [CORE_USER],
    userName,
    externalId,
    active: true,
    emails: [{ value: `${userName}@example.com`, type: 'work', primary: true }],
  });
  expect(created.status).toBe(201);
  return { id: created.body.id, seeded };
}

async function leave(id: string) {
  expect((await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })).status).toBe(200);
  const [event] = await jml.database.query<{ id: string; workflow_id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]);
  return { eventId: event!.id, outcomes: await jml.resultOf(event!.workflow_id) };
}

describe('read-back against a lying system', () => {
  it('the user API answers 204 and keeps the user active: never verified, one write, needs attention after the reads', async () => {
    const { simulators } = jml.simulators;
    const { id } = await leaver('liar-userapi', 'emp-liar-1');
    simulators.userapi.setFaults({ ignoreWrites: ['emp-liar-1'] });
    const { eventId, outcomes } = await leave(id);
    simulators.userapi.setFaults({});

    expect(Object.fromEntries(outcomes.map((outcome) => [outcome.system, outcome.status]))).toEqual({ rocketchat: 'verified', mendix: 'succeeded', userapi: 'needs_attention' });
    const calls = simulators.userapi.calls().filter((call) => call.path.startsWith('/v1/users/emp-liar-1'));
    // One deactivation (one idempotency-ref), then only reads.
    expect(calls.filter((call) => call.method === 'POST').map((call) => call.status)).toEqual([204]);
    expect(calls.filter((call) => call.method === 'GET').map((call) => call.status)).toEqual(Array(READ_BACK_ATTEMPTS).fill(200));
    expect(simulators.userapi.users().find((user) => user.id === 'emp-liar-1')?.active).toBe(true);

    const [target] = await jml.database.query<{ status: string; verified_at: Date | null; confirmed_at: Date | null; last_error: string }>(
      `SELECT status, verified_at, confirmed_at, last_error FROM target_action WHERE event_id = $1 AND system = 'userapi'`,
      [eventId],
    );
    expect(target).toMatchObject({ status: 'needs_attention', verified_at: null });
    expect(target!.confirmed_at).toBeInstanceOf(Date);
    expect(target!.last_error).toMatch(/ReadBackContradicted: userapi accepted the deactivate of account emp-liar-1, but reading it back shows it still active \(3 of 3 reads\)/);
    const audit = await jml.database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 AND system = 'userapi' ORDER BY id`, [eventId]);
    expect(audit.map((row) => row.action)).toEqual([
      'target.deactivate.succeeded',
      ...Array<string>(READ_BACK_ATTEMPTS).fill('target.deactivate.read_contradicted'),
      'target.deactivate.needs_attention',
    ]);
    const [event] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [eventId]);
    expect(event?.status).toBe('needs_attention');
  });

  it('Rocket.Chat answers success and does not apply it: caught the same way, setActiveStatus sent once', async () => {
    const { simulators } = jml.simulators;
    const { id, seeded } = await leaver('liar-rocketchat', 'emp-liar-2');
    simulators.rocketchat.setFaults({ ignoreWrites: ['liar-rocketchat'] });
    const { outcomes } = await leave(id);
    simulators.rocketchat.setFaults({});

    expect(outcomes.find((outcome) => outcome.system === 'rocketchat')?.status).toBe('needs_attention');
    const writes = simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.setActiveStatus' && (call.body as { userId?: string }).userId === seeded.rocketchat._id);
    expect(writes).toHaveLength(1);
    const reads = simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.info' && call.query.userId === seeded.rocketchat._id);
    expect(reads).toHaveLength(READ_BACK_ATTEMPTS);
  });

  it('a read-back that fails (503 on the read only) is a failed attempt on the accepted target, retried by reading, never by writing again', async () => {
    const { simulators } = jml.simulators;
    const { id } = await leaver('read-fails', 'emp-read-fails');
    simulators.userapi.setFaults({ readStatusByAccount: { 'emp-read-fails': 503 } });
    const left = leave(id);
    // The failed read is recorded as soon as it happens; then the reads work again.
    const failedReads = () =>
      jml.database.query<{ data: { phase?: string; status?: number } }>(
        `SELECT a.data FROM audit_event a JOIN lifecycle_event e ON e.id = a.event_id
         WHERE e.identity_id = $1 AND a.system = 'userapi' AND a.action = 'target.deactivate.attempt_failed'`,
        [id],
      );
    for (let polls = 0; (await failedReads()).length === 0; polls += 1) {
      expect(polls, 'no failed read-back was recorded').toBeLessThan(1_200);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    simulators.userapi.setFaults({});
    const { eventId, outcomes } = await left;

    expect(outcomes.find((outcome) => outcome.system === 'userapi')?.status).toBe('verified');
    expect((await failedReads())[0]!.data).toMatchObject({ phase: 'read_back', status: 503 });
    const calls = simulators.userapi.calls().filter((call) => call.path.startsWith('/v1/users/emp-read-fails'));
    expect(calls.filter((call) => call.method === 'POST').map((call) => call.status)).toEqual([204]);
    expect(calls.filter((call) => call.method === 'GET').map((call) => call.status)).toContain(503);
    expect(calls.filter((call) => call.method === 'GET').at(-1)?.status).toBe(200);
    const audit = await jml.database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 AND system = 'userapi' ORDER BY id`, [eventId]);
    expect(audit[0]!.action).toBe('target.deactivate.succeeded');
    expect(audit.at(-1)!.action).toBe('target.deactivate.verified');
  });

  it('a lying Mendix cannot be caught: the evidence says only what is known', async () => {
    const { simulators } = jml.simulators;
    const { id } = await leaver('liar-mendix', 'emp-liar-3');
    simulators.mendix.setFaults({ ignoreWrites: ['liar-mendix@example.com'] });
    const { eventId } = await leave(id);
    simulators.mendix.setFaults({});

    const evidence = await buildEvidence(jml.system.db, 'liar-mendix');
    const mendix = evidence.people[0]!.events.find((event) => event.id === eventId)!.targets.find((target) => target.system === 'mendix')!;
    expect(mendix).toMatchObject({ status: 'succeeded', verifiedAt: null, proof: 'accepted by the vendor, no read API to verify' });
  });
});
