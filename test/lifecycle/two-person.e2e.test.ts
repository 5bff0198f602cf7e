// The two-person rule (JML_APPROVALS_REQUIRED=2, docs/decisions/038-two-person-release.md): a held
// leaver is released only when two different operators approved it, both audited; the first
// approval is recorded and waits; the same operator approving twice is refused with 409. jml runs
// as the application role here, so the grants cover recording an approval too.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

let jml: TestSystem;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  // Every leaver is held: the guard's threshold is zero.
  jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '0', JML_GUARD_MIN_LEAVERS: '1000', JML_APPROVALS_REQUIRED: '2' }, applicationRole: true });
  for (const name of ['alice', 'bob']) tokens[name] = (await createToken(jml.system.db, { name, kind: 'operator' })).token;
});

afterAll(async () => {
  await jml.close();
});

async function api(as: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${jml.system.url}/api${path}`, { method: 'POST', headers: { authorization: `Bearer ${tokens[as]}` } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function heldLeaver(userName: string): Promise<{ id: string; workflow_id: string; externalId: string }> {
  const externalId = `emp-${userName}`;
  jml.simulators.simulators.seedFromIdentity({ userName, email: `${userName}@example.com`, externalId });
  const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName, externalId, active: true, emails: [{ value: `${userName}@example.com`, primary: true }] });
  await jml.scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  for (let polls = 0; polls < 600; polls++) {
    const [event] = await jml.database.query<{ id: string; workflow_id: string; status: string }>(
      `SELECT id, workflow_id, status FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`,
      [created.body.id],
    );
    if (event?.status === 'held') return { ...event, externalId };
    await sleep(50);
  }
  throw new Error(`${userName}'s leaver was never held`);
}

const statusOf = async (eventId: string) => (await jml.database.query<{ status: string }>(`SELECT status FROM lifecycle_event WHERE id = $1`, [eventId]))[0]!.status;
const operatorAudit = (eventId: string) =>
  jml.database.query<{ actor: string; action: string; data: Record<string, unknown> }>(
    `SELECT actor, action, data FROM audit_event WHERE event_id = $1 AND action LIKE 'operator.%' ORDER BY id`,
    [eventId],
  );

describe('releasing a held leaver under the two-person rule', () => {
  it('records the first approval and waits, refuses the same operator again, and releases on a second operator', async () => {
    const held = await heldLeaver('lamarr');

    const first = await api('alice', `/events/${held.id}/approve`);
    expect(first).toEqual({ status: 200, body: { eventId: held.id, workflowId: held.workflow_id, signal: 'approve', status: 'held', released: false, approvedBy: ['alice'], approvalsRequired: 2 } });
    expect(await statusOf(held.id)).toBe('held');

    const again = await api('alice', `/events/${held.id}/approve`);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: 'SecondApproverRequired', detail: expect.stringContaining('approved by alice already') as unknown });
    expect(await statusOf(held.id)).toBe('held');
    // Nothing reached a vendor while one approval was missing.
    expect(jml.simulators.simulators.userapi.calls().filter((call) => call.path.includes(held.externalId))).toHaveLength(0);

    const second = await api('bob', `/events/${held.id}/approve`);
    expect(second).toEqual({ status: 200, body: { eventId: held.id, workflowId: held.workflow_id, signal: 'approve', status: 'pending', released: true, approvedBy: ['alice', 'bob'], approvalsRequired: 2 } });
    const outcomes = await jml.resultOf(held.workflow_id);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['succeeded', 'verified', 'verified']);

    expect(await operatorAudit(held.id)).toEqual([
      { actor: 'alice', action: 'operator.approval.recorded', data: { workflowId: held.workflow_id, approvals: 1, required: 2 } },
      { actor: 'bob', action: 'operator.approve', data: { workflowId: held.workflow_id, approvedBy: ['alice', 'bob'] } },
    ]);
  });

  it('approving all held: the first operator records, the same again releases nothing, a second releases all', async () => {
    const held = [await heldLeaver('hopper2'), await heldLeaver('liskov')];
    const ids = held.map((event) => event.id).sort();
    const released = (body: Record<string, unknown>) =>
      (body.approved as { eventId: string; released: boolean }[]).filter((entry) => entry.released).map((entry) => entry.eventId).sort();

    const first = await api('alice', '/held/approve');
    expect(first.status).toBe(200);
    expect(released(first.body)).toEqual([]);
    const same = await api('alice', '/held/approve');
    expect({ status: same.status, released: released(same.body) }).toEqual({ status: 200, released: [] });
    for (const event of held) expect(await statusOf(event.id)).toBe('held');

    const second = await api('bob', '/held/approve');
    expect(released(second.body)).toEqual(ids);
    for (const event of held) {
      expect((await jml.resultOf(event.workflow_id)).every((outcome) => ['succeeded', 'verified'].includes(outcome.status))).toBe(true);
      expect((await operatorAudit(event.id)).map(({ actor, action }) => `${actor}:${action}`)).toEqual(['alice:operator.approval.recorded', 'bob:operator.approve']);
    }
  });
});
