// The Rocket.Chat idle sweep from a real Temporal Schedule: previewed from users.list, held for an
// operator past the guard's threshold, and each person it deactivated recorded from a read-back
// (docs/decisions/042-idle-sweep-records-each-person.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idleSweepCommand } from '../../src/cli/idle-sweep.js';
import { idleSweepScheduleId } from '../../workflows/contract.js';
import { CORE_USER } from '../support/scim-client.js';
import { startTestSystem, waitUntil, type TestSystem } from '../support/system.js';

let jml: TestSystem;
const DAY = 24 * 60 * 60 * 1000;

beforeAll(async () => {
  // More than two people in one sweep hold it, as more than two leavers would.
  jml = await startTestSystem({ env: { JML_IDLE_SWEEP_DAYS: '30', JML_IDLE_SWEEP_ROLE: 'user', JML_IDLE_SWEEP_CRON: '0 3 * * *', JML_GUARD_MAX_LEAVERS: '2' } });
});

afterAll(async () => {
  await jml.system.client.schedule.getHandle(idleSweepScheduleId(jml.taskQueue)).delete();
  await jml.close();
});

/** A person in jml whose Rocket.Chat account last logged in `daysAgo` days ago. */
async function person(username: string, daysAgo: number, roles = ['user']) {
  const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: username, emails: [{ value: `${username}@example.com`, primary: true }] });
  expect(created.status).toBe(201);
  jml.simulators.simulators.rocketchat.seedUser({ username, email: `${username}@example.com`, roles, lastLogin: new Date(Date.now() - daysAgo * DAY).toISOString() });
  return created.body.id;
}

const auditOf = (action: string) =>
  jml.database.query<{ actor: string; identity_id: string | null; data: Record<string, unknown> }>(`SELECT actor, identity_id, data FROM audit_event WHERE action = $1 ORDER BY id`, [action]);
const rocketchat = () => jml.simulators.simulators.rocketchat;
const activeOf = (name: string) => rocketchat().users().find((user) => user.username === name)?.active;
const sweepCalls = () => rocketchat().calls().filter((call) => call.path === '/api/v1/users.deactivateIdle');

describe('idle sweep', () => {
  it('creates the schedule from configuration; a run deactivates idle users and records each person from a read-back', async () => {
    const idle = await person('idle-user', 90);
    await person('recent-user', 2);
    await person('idle-admin', 90, ['admin']);
    rocketchat().seedUser({ username: 'idle-nobody', roles: ['user'], lastLogin: new Date(Date.now() - 60 * DAY).toISOString() });

    const schedule = jml.system.client.schedule.getHandle(idleSweepScheduleId(jml.taskQueue));
    const description = await schedule.describe();
    // '0 3 * * *': every day at 03:00 UTC.
    expect(description.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 0, end: 0, step: 1 }] });
    expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'idleSweepWorkflow' });

    await schedule.trigger();
    const completed = await waitUntil(() => auditOf('rocketchat.idle_sweep.completed'), (rows) => rows.length === 1);
    expect(completed).toHaveLength(1);
    expect(completed[0]!.data).toMatchObject({ deactivated: 2, previewed: 2, confirmed: 2, unnamed: 0, daysIdle: 30, role: 'user' });
    expect(activeOf('idle-user')).toBe(false);
    expect(activeOf('idle-nobody')).toBe(false);
    expect(activeOf('recent-user')).toBe(true);
    expect(activeOf('idle-admin')).toBe(true);
    expect(sweepCalls().map((call) => call.body)).toEqual([{ daysIdle: 30, role: 'user' }]);

    const [previewed] = await auditOf('rocketchat.idle_sweep.previewed');
    expect(previewed!.data).toMatchObject({ wouldDeactivate: 2 });
    // One row per person, on the person's evidence where jml knows them.
    const people = await auditOf('rocketchat.idle_sweep.deactivated');
    expect(people.map((row) => [row.identity_id, row.data.readBack])).toEqual([
      [idle, 'inactive'],
      [null, 'inactive'],
    ]);
  });

  it('holds a sweep that would deactivate more people than the guard allows until an operator approves it', async () => {
    const ids = [await person('idle-a', 45), await person('idle-b', 45), await person('idle-c', 45)];
    await jml.system.client.schedule.getHandle(idleSweepScheduleId(jml.taskQueue)).trigger();
    const [held] = await waitUntil(() => auditOf('rocketchat.idle_sweep.held'), (rows) => rows.length === 1);
    expect(held!.data).toMatchObject({ wouldDeactivate: 3, maxLeavers: 2 });
    expect((held!.data.accounts as { identityId: string }[]).map((account) => account.identityId).sort()).toEqual([...ids].sort());
    // Nothing was called: the vendor's sweep is all or nothing.
    expect(sweepCalls()).toHaveLength(1);
    expect(['idle-a', 'idle-b', 'idle-c'].map(activeOf)).toEqual([true, true, true]);

    const output: string[] = [];
    const io = { out: (text: string) => output.push(text), err: (text: string) => output.push(text) };
    const workflowId = held!.data.workflowId as string;
    expect(await idleSweepCommand(jml.system.db, { action: 'approve', workflowId, as: 'alice', approvalsRequired: 1 }, io)).toBe(0);
    expect(await idleSweepCommand(jml.system.db, { action: 'reject', workflowId, as: 'bob', approvalsRequired: 1 }, io)).toBe(1);
    expect(output.join('')).toContain('already approved by alice');

    const completed = await waitUntil(() => auditOf('rocketchat.idle_sweep.completed'), (rows) => rows.length === 2, 30_000);
    expect(completed[1]).toMatchObject({ actor: 'alice', data: expect.objectContaining({ deactivated: 3, confirmed: 3 }) as unknown });
    expect(['idle-a', 'idle-b', 'idle-c'].map(activeOf)).toEqual([false, false, false]);
    const people = await auditOf('rocketchat.idle_sweep.deactivated');
    expect(people.slice(2).map((row) => row.identity_id).sort()).toEqual([...ids].sort());
  });
});
