// Issue 2's acceptance test: a leaver flows from SCIM through PostgreSQL and the real Temporal
// server to the three simulated downstream systems, and every step is recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdForEvent } from '../../workflows/contract.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

let jml: TestSystem;

beforeAll(async () => {
  jml = await startTestSystem();
});

afterAll(async () => {
  await jml.close();
});

describe('a leaver, end to end', () => {
  it('deactivates the person once in each system and records the event, outcomes and audit', async () => {
    const { simulators } = jml.simulators;
    simulators.seedFromIdentity({ userName: 'hopper', email: 'grace.hopper@example.com', externalId: 'emp-1906' });
    // Someone else's accounts, which must not be touched.
    simulators.seedFromIdentity({ userName: 'lovelace', email: 'ada@example.com', externalId: 'emp-1815' });

    const created = await jml.scim.post('/Users', {
      schemas: [CORE_USER, ENTERPRISE],
      userName: 'hopper',
      externalId: 'emp-1906',
      active: true,
      emails: [{ value: 'grace.hopper@example.com', type: 'work', primary: true }],
      [ENTERPRISE]: { department: 'Navy' },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;

    const deactivated = await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(deactivated.status).toBe(200);

    const [event] = await jml.database.query<{ id: string; workflow_id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]);
    expect(event?.workflow_id).toBe(workflowIdForEvent(event!.id));
    const outcomes = await jml.resultOf(event!.workflow_id);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        { system: 'rocketchat', action: 'deactivate', status: 'verified' },
        { system: 'mendix', action: 'deactivate', status: 'succeeded' },
        { system: 'userapi', action: 'deactivate', status: 'verified' },
      ]),
    );

    // Each simulator received exactly one deactivation, for this person.
    const rocketchatDeactivations = simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.setActiveStatus' && call.status === 200);
    expect(rocketchatDeactivations).toHaveLength(1);
    const hopperInRocketChat = simulators.rocketchat.users().find((user) => user.username === 'hopper')!;
    expect(rocketchatDeactivations[0]!.body).toMatchObject({ userId: hopperInRocketChat._id, activeStatus: false, confirmRelinquish: true });
    const mendixDeactivations = simulators.mendix.calls().filter((call) => call.method === 'PATCH' && call.status === 204);
    expect(mendixDeactivations).toHaveLength(1);
    const hopperInMendix = simulators.mendix.users().find((user) => user.email === 'grace.hopper@example.com')!;
    expect(mendixDeactivations[0]!.path).toBe(`/v1/platform-users/${hopperInMendix.uuid}`);
    const userApiDeactivations = simulators.userapi.calls().filter((call) => call.path.endsWith('/deactivate') && call.status === 204);
    expect(userApiDeactivations.map((call) => call.path)).toEqual(['/v1/users/emp-1906/deactivate']);
    expect(userApiDeactivations[0]!.headers['idempotency-ref']).toMatch(new RegExp(`^jml-${event!.id}-userapi-deactivate$`));

    // The simulators' own state: hopper is disabled everywhere, lovelace nowhere.
    expect(hopperInRocketChat.active).toBe(false);
    expect(hopperInMendix.active).toBe(false);
    expect(simulators.userapi.users().find((user) => user.id === 'emp-1906')?.active).toBe(false);
    expect(simulators.rocketchat.users().find((user) => user.username === 'lovelace')?.active).toBe(true);

    // PostgreSQL holds the event, each outcome and the audit trail.
    const [stored] = await jml.database.query<{ status: string; completed_at: Date | null }>('SELECT status, completed_at FROM lifecycle_event WHERE id = $1', [event!.id]);
    expect(stored?.status).toBe('completed');
    expect(stored?.completed_at).toBeInstanceOf(Date);
    const targets = await jml.database.query<{ system: string; status: string; account_id: string; confirmed_at: Date | null }>(
      'SELECT system, status, account_id, confirmed_at FROM target_action WHERE event_id = $1 ORDER BY system', [event!.id]);
    expect(targets.map(({ system, status, account_id }) => ({ system, status, account_id }))).toEqual([
      { system: 'mendix', status: 'succeeded', account_id: hopperInMendix.uuid },
      { system: 'rocketchat', status: 'verified', account_id: hopperInRocketChat._id },
      { system: 'userapi', status: 'verified', account_id: 'emp-1906' },
    ]);
    expect(targets.every((target) => target.confirmed_at instanceof Date)).toBe(true);
    const audit = await jml.database.query<{ action: string; system: string | null }>('SELECT action, system FROM audit_event WHERE event_id = $1 ORDER BY id', [event!.id]);
    expect(audit[0]).toEqual({ action: 'lifecycle.leaver.detected', system: null });
    expect(audit.filter((row) => row.action === 'target.deactivate.succeeded').map((row) => row.system).sort()).toEqual(['mendix', 'rocketchat', 'userapi']);
    expect(audit.filter((row) => row.action === 'target.deactivate.verified').map((row) => row.system).sort()).toEqual(['rocketchat', 'userapi']);
    expect(audit.at(-1)).toEqual({ action: 'lifecycle.leaver.completed', system: null });
    const [outbox] = await jml.database.query<{ dispatched_at: Date | null }>('SELECT dispatched_at FROM outbox WHERE workflow_id = $1', [event!.workflow_id]);
    expect(outbox?.dispatched_at).toBeInstanceOf(Date);
  });

  it('rehires without looking the accounts up again: reactivated where possible, Mendix needs a person', async () => {
    const { simulators } = jml.simulators;
    const [hopper] = (await jml.database.query<{ id: string }>(`SELECT id FROM identity WHERE user_name = 'hopper'`));
    const lookupsBefore = simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.info' && call.query.userId === undefined).length
      + simulators.mendix.calls().filter((call) => call.path === '/v1/uuids').length;

    const rehired = await jml.scim.patch(`/Users/${hopper!.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(rehired.status).toBe(200);
    const [event] = await jml.database.query<{ workflow_id: string; id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'rehire'`, [hopper!.id]);
    const outcomes = await jml.resultOf(event!.workflow_id);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        { system: 'rocketchat', action: 'reactivate', status: 'verified' },
        { system: 'userapi', action: 'reactivate', status: 'verified' },
        { system: 'mendix', action: 'reactivate', status: 'manual_action_required' },
      ]),
    );
    expect(simulators.rocketchat.users().find((user) => user.username === 'hopper')?.active).toBe(true);
    expect(simulators.userapi.users().find((user) => user.id === 'emp-1906')?.active).toBe(true);
    expect(simulators.mendix.users().find((user) => user.email === 'grace.hopper@example.com')?.active).toBe(false);
    const lookupsAfter = simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.info' && call.query.userId === undefined).length
      + simulators.mendix.calls().filter((call) => call.path === '/v1/uuids').length;
    expect(lookupsAfter).toBe(lookupsBefore);
    const [stored] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [event!.id]);
    expect(stored?.status).toBe('completed');
  });
});
