// The mass-deprovision guard and "disable now, finish at the date", against the real Temporal
// server, the real PostgreSQL and the simulators.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveAllHeld } from '../../src/lifecycle/operations.js';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, waitUntil, type TestSystem } from '../support/system.js';

/** Done downstream: accepted (Mendix, which documents no read) or accepted and read back. */
const DONE = ['succeeded', 'verified'];

const LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';

async function provision(jml: TestSystem, userName: string, extra: Record<string, unknown> = {}) {
  jml.simulators.simulators.seedFromIdentity({ userName, email: `${userName}@example.com`, externalId: `ext-${userName}` });
  const created = await jml.scim.post('/Users', {
    schemas: [CORE_USER, LIFECYCLE], userName, externalId: `ext-${userName}`, emails: [{ value: `${userName}@example.com`, primary: true }], ...extra,
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

const setActive = (jml: TestSystem, id: string, active: boolean) =>
  jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active } }] });

describe('mass-deprovision guard', () => {
  let jml: TestSystem;

  beforeAll(async () => {
    // More than two leavers within the hour trips it; the share rule is out of the way.
    jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '2', JML_GUARD_MIN_LEAVERS: '1000' } });
  });

  afterAll(async () => {
    await jml.close();
  });

  const statuses = () => jml.database.query<{ id: string; identity_id: string; status: string; workflow_id: string }>(
    `SELECT id, identity_id, status, workflow_id FROM lifecycle_event WHERE kind = 'leaver' ORDER BY created_at`);

  it('holds a burst of leavers before any system is touched, and releases it on approval', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) ids.push(await provision(jml, `burst${index}`));
    await Promise.all(ids.map((id) => setActive(jml, id, false)));

    const settled = await waitUntil(statuses, (rows) => rows.length === 5 && rows.every((row) => ['held', 'completed'].includes(row.status)));
    const held = settled.filter((row) => row.status === 'held');
    // Every leaver that finds more than two in the window holds: at least the three over the limit.
    expect(held.length).toBeGreaterThanOrEqual(3);
    const heldExternalIds = held.map((row) => `ext-burst${ids.indexOf(row.identity_id)}`);
    const deactivations = () => jml.simulators.simulators.userapi.calls().filter((call) => call.path.endsWith('/deactivate'));
    expect(deactivations().filter((call) => heldExternalIds.some((externalId) => call.path.includes(externalId)))).toHaveLength(0);
    const audit = await jml.database.query<{ event_id: string; data: { leaversInWindow: number } }>(`SELECT event_id, data FROM audit_event WHERE action = 'lifecycle.leaver.held'`);
    expect(audit.map((row) => row.event_id).sort()).toEqual(held.map((row) => row.id).sort());
    expect(audit.every((row) => row.data.leaversInWindow > 2)).toBe(true);

    // A held leaver has no workflow while it waits: it costs the worker nothing (decision 023).
    for (const row of held) await expect(jml.system.client.workflow.getHandle(row.workflow_id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const outbox = await jml.database.query<{ signal: string | null; dispatched: boolean }>(
      `SELECT signal, dispatched_at IS NOT NULL AS dispatched FROM outbox WHERE kind = 'start' AND workflow_id = ANY($1::text[])`, [held.map((row) => row.workflow_id)]);
    expect(outbox).toEqual(held.map(() => ({ signal: 'held', dispatched: false })));

    const { approved } = await approveAllHeld(jml.system.db, { by: 'alice' });
    expect(approved).toHaveLength(held.length);
    jml.system.relay?.kick();
    for (const row of held) {
      const outcomes = await jml.resultOf(row.workflow_id);
      expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    }
    expect(jml.simulators.simulators.userapi.users().filter((user) => user.id.startsWith('ext-burst')).every((user) => !user.active)).toBe(true);
    const approvals = await jml.database.query<{ actor: string }>(`SELECT actor FROM audit_event WHERE action = 'lifecycle.leaver.approved'`);
    expect(approvals).toHaveLength(held.length);
    expect(approvals.every((row) => row.actor === 'alice')).toBe(true);
  });

  it('cancels a held leaver when the person is rehired, sending nothing downstream', async () => {
    const id = await provision(jml, 'changedmind');
    await setActive(jml, id, false);
    const [leaver] = await waitUntil(
      () => jml.database.query<{ id: string; status: string; workflow_id: string }>(`SELECT id, status, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]),
      (rows) => rows[0]?.status === 'held',
    );
    expect(leaver!.status).toBe('held');
    await expect(jml.system.client.workflow.getHandle(leaver!.workflow_id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect((await setActive(jml, id, true)).status).toBe(200);
    // Its workflow starts only to find the event cancelled and report so.
    const outcomes = await jml.resultOf(leaver!.workflow_id);
    expect(outcomes.every((outcome) => outcome.status === 'cancelled')).toBe(true);
    const [after] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [leaver!.id]);
    expect(after!.status).toBe('cancelled');
    expect(jml.simulators.simulators.userapi.calls().filter((call) => call.path === '/v1/users/ext-changedmind/deactivate')).toHaveLength(0);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === 'ext-changedmind')?.active).toBe(true);
  });
});

describe('disable now, finish at the date', () => {
  let jml: TestSystem;

  beforeAll(async () => {
    jml = await startTestSystem({ env: { JML_DISABLE_NOW_SYSTEMS: 'rocketchat', JML_GUARD_ENABLED: 'false' } });
  });

  afterAll(async () => {
    await jml.close();
  });

  it('disables Rocket.Chat at once and the others on the termination date', async () => {
    const id = await provision(jml, 'gradual', { [LIFECYCLE]: { terminationDate: new Date(Date.now() + 2500).toISOString() } });
    const [leaver] = await jml.database.query<{ id: string; workflow_id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]);
    const rocketchat = () => jml.simulators.simulators.rocketchat.users().find((user) => user.username === 'gradual');
    await waitUntil(() => Promise.resolve(rocketchat()?.active), (active) => active === false);
    expect(rocketchat()?.active).toBe(false);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === 'ext-gradual')?.active).toBe(true);
    const outcomes = await jml.resultOf(leaver!.workflow_id);
    expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === 'ext-gradual')?.active).toBe(false);
  });
});

describe('paced release of approved leavers', () => {
  let jml: TestSystem;

  beforeAll(async () => {
    jml = await startTestSystem({
      env: {
        JML_GUARD_MAX_LEAVERS: '1', JML_GUARD_MIN_LEAVERS: '1000', JML_RELEASE_MAX_IN_FLIGHT: '2',
        JML_RETRY_INITIAL_MS: '100', JML_RETRY_MAX_INTERVAL_MS: '500',
      },
    });
  });

  afterAll(async () => {
    await jml.close();
  });

  const approvals = () => jml.database.query<{ dispatched: boolean }>(
    `SELECT dispatched_at IS NOT NULL AS dispatched FROM outbox WHERE signal = 'approve' ORDER BY id`);

  it('lets only as many approved leavers run as the limit allows, and the rest as they finish', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 6; index++) ids.push(await provision(jml, `wave${index}`));
    await Promise.all(ids.map((id) => setActive(jml, id, false)));
    const leavers = () => jml.database.query<{ status: string; workflow_id: string }>(`SELECT status, workflow_id FROM lifecycle_event WHERE kind = 'leaver'`);
    const settled = await waitUntil(leavers, (rows) => rows.length === 6 && rows.every((row) => ['held', 'completed'].includes(row.status)));
    const held = settled.filter((row) => row.status === 'held');
    expect(held.length).toBeGreaterThanOrEqual(4);

    // The user API is down: a released leaver keeps running, so it keeps its place in flight.
    const userapi = jml.simulators.simulators.userapi;
    userapi.setFaults({ outageUntil: Date.now() + 120_000 });
    const { approved } = await approveAllHeld(jml.system.db, { by: 'alice' });
    expect(approved).toHaveLength(held.length);
    await waitUntil(approvals, (rows) => rows.filter((row) => row.dispatched).length >= 2);
    await sleep(1500); // six relay polls: room for more would have been used by now
    const waves = await approvals();
    expect(waves.filter((row) => row.dispatched)).toHaveLength(2);
    expect(waves.filter((row) => !row.dispatched)).toHaveLength(held.length - 2);
    // The two released leavers run; on a loaded machine their workflows may take a moment to begin.
    await waitUntil(leavers, (rows) => rows.filter((row) => row.status === 'running').length >= 2);
    expect((await leavers()).filter((row) => row.status === 'running')).toHaveLength(2);
    expect((await approvals()).filter((row) => row.dispatched)).toHaveLength(2);

    userapi.setFaults({});
    for (const row of held) {
      const outcomes = await jml.resultOf(row.workflow_id);
      expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    }
    expect((await approvals()).every((row) => row.dispatched)).toBe(true);
    expect(userapi.users().filter((user) => user.id.startsWith('ext-wave')).every((user) => !user.active)).toBe(true);
  });
});
