// The Rocket.Chat idle sweep runs from a real Temporal Schedule and its result is audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { idleSweepScheduleId } from '../../workflows/contract.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

let jml: TestSystem;
const DAY = 24 * 60 * 60 * 1000;

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_IDLE_SWEEP_DAYS: '30', JML_IDLE_SWEEP_ROLE: 'user', JML_IDLE_SWEEP_CRON: '0 3 * * *' } });
});

afterAll(async () => {
  await jml.system.client.schedule.getHandle(idleSweepScheduleId(jml.taskQueue)).delete();
  await jml.close();
});

describe('idle sweep', () => {
  it('creates the schedule from configuration, and a triggered run deactivates idle users and is audited', async () => {
    const rocketchat = jml.simulators.simulators.rocketchat;
    rocketchat.seedUser({ username: 'idle-user', roles: ['user'], lastLogin: new Date(Date.now() - 90 * DAY).toISOString() });
    rocketchat.seedUser({ username: 'recent-user', roles: ['user'], lastLogin: new Date(Date.now() - 2 * DAY).toISOString() });
    rocketchat.seedUser({ username: 'idle-admin', roles: ['admin'], lastLogin: new Date(Date.now() - 90 * DAY).toISOString() });

    const schedule = jml.system.client.schedule.getHandle(idleSweepScheduleId(jml.taskQueue));
    const description = await schedule.describe();
    // '0 3 * * *': every day at 03:00 UTC.
    expect(description.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 3, end: 3, step: 1 }], minute: [{ start: 0, end: 0, step: 1 }] });
    expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'idleSweepWorkflow' });

    await schedule.trigger();
    let audit: { data: { deactivated: number; daysIdle: number; role: string } }[] = [];
    for (let waited = 0; waited < 20_000 && audit.length === 0; waited += 100) {
      audit = await jml.database.query(`SELECT data FROM audit_event WHERE action = 'rocketchat.idle_sweep.completed'`);
      if (audit.length === 0) await sleep(100);
    }
    expect(audit).toHaveLength(1);
    expect(audit[0]!.data).toMatchObject({ deactivated: 1, daysIdle: 30, role: 'user' });
    const byName = (name: string) => rocketchat.users().find((user) => user.username === name);
    expect(byName('idle-user')?.active).toBe(false);
    expect(byName('recent-user')?.active).toBe(true);
    expect(byName('idle-admin')?.active).toBe(true);
    const calls = rocketchat.calls().filter((call) => call.path === '/api/v1/users.deactivateIdle');
    expect(calls.map((call) => call.body)).toEqual([{ daysIdle: 30, role: 'user' }]);
  });
});
