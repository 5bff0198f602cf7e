// Mass actions through the guard (issue 14, docs/decisions/041-every-mass-action-through-the-guard.md):
// a group DELETE or an identity provider's PATCH that empties a group the policy grants a system
// by turns its members into movers losing an entitlement; past the leavers' threshold they hold
// for the same approval (two-person rule, operator API) while the SCIM answer is the RFC's.
// Real PostgreSQL, real Temporal, simulated Rocket.Chat.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { PATCH_OP } from '../support/scim-client.js';
import { provisionPerson, startTestSystem, waitUntil, type TestSystem } from '../support/system.js';

const CORE_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

let jml: TestSystem;
let policyDir: string;
let counter = 0;

beforeAll(async () => {
  policyDir = mkdtempSync(path.join(tmpdir(), 'jml-policy-'));
  const policyFile = path.join(policyDir, 'policy.json');
  // Rocket.Chat for members of "chat" or "team"; the other systems for everyone.
  writeFileSync(policyFile, JSON.stringify({ version: 1, systems: { rocketchat: { entitled: { anyOf: [{ group: 'chat' }, { group: 'team' }] } } } }));
  jml = await startTestSystem({
    // More than two deprovisions within the hour trips the guard; the share rule is out of the way.
    env: { JML_POLICY_FILE: policyFile, JML_GUARD_MAX_LEAVERS: '2', JML_GUARD_MIN_LEAVERS: '1000', JML_APPROVALS_REQUIRED: '2' },
  });
});

afterAll(async () => {
  await jml.close();
  rmSync(policyDir, { recursive: true, force: true });
});

async function people(count: number) {
  const made = [];
  for (let index = 0; index < count; index++) made.push(await provisionPerson(jml, 'member', ++counter));
  return made;
}

const movers = (identityIds: string[]) =>
  jml.database.query<{ id: string; identity_id: string; status: string; workflow_id: string }>(
    `SELECT id, identity_id, status, workflow_id FROM lifecycle_event WHERE kind = 'mover' AND identity_id = ANY($1::uuid[]) ORDER BY created_at`,
    [identityIds],
  );

const rocketchatActive = (userName: string) => jml.simulators.simulators.rocketchat.users().find((user) => user.username === userName)?.active;
const rocketchatDeactivations = () => jml.simulators.simulators.rocketchat.calls().filter((call) => call.path.includes('setActiveStatus') && JSON.stringify(call.body ?? {}).includes('"activeStatus":false'));

async function operatorApi() {
  const tokens = await Promise.all(['alice', 'bob'].map((name) => createToken(jml.system.db, { name, kind: 'operator' })));
  return (name: 'alice' | 'bob', route: string) =>
    fetch(`${jml.system.url}/api${route}`, { method: 'POST', headers: { authorization: `Bearer ${tokens[name === 'alice' ? 0 : 1]!.token}` } });
}

describe('group changes that take access from many people', () => {
  it('answers a group DELETE with 204 and holds its members\' deactivations for two operators', async () => {
    const members = await people(5);
    const created = await jml.scim.post('/Groups', { schemas: [CORE_GROUP], displayName: 'chat', members: members.map((member) => ({ value: member.id })) });
    expect(created.status).toBe(201);
    const groupId = created.body.id;
    // Joining the group gains Rocket.Chat: reactivations, nothing to hold.
    await waitUntil(() => movers(members.map((member) => member.id)), (rows) => rows.length === 5 && rows.every((row) => row.status === 'completed'));

    // One person leaves the group: under the threshold, deactivated at once.
    const [first, ...rest] = members;
    const removed = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${first!.id}"]` }] });
    expect(removed.status).toBeLessThan(300);
    await waitUntil(() => Promise.resolve(rocketchatActive(first!.userName)), (active) => active === false);
    expect(rocketchatActive(first!.userName)).toBe(false);

    const before = rocketchatDeactivations().length;
    const deleted = await jml.scim.delete(`/Groups/${groupId}`);
    // RFC 7644 §3.6: the group is gone from jml's record at once; only the downstream effect waits.
    expect(deleted.status).toBe(204);
    expect((await jml.scim.get(`/Groups/${groupId}`)).status).toBe(404);

    const ids = rest.map((member) => member.id);
    const settled = await waitUntil(
      async () => (await movers(ids)).slice(-4),
      (rows) => rows.length === 4 && rows.every((row) => row.status === 'held'),
    );
    expect(settled.map((row) => row.status)).toEqual(['held', 'held', 'held', 'held']);
    expect(rocketchatDeactivations()).toHaveLength(before);
    expect(rest.every((member) => rocketchatActive(member.userName) === true)).toBe(true);
    const held = await jml.database.query<{ event_id: string; data: { deprovisionsInWindow: number; moversLosingAccessInWindow: number } }>(
      `SELECT event_id, data FROM audit_event WHERE action = 'lifecycle.mover.held'`);
    expect(held.map((row) => row.event_id).sort()).toEqual(settled.map((row) => row.id).sort());
    expect(held.every((row) => row.data.deprovisionsInWindow >= 5 && row.data.moversLosingAccessInWindow >= 5)).toBe(true);

    // The leavers' approval route and two-person rule: alice's approval alone releases nothing.
    const post = await operatorApi();
    expect((await post('alice', '/held/approve')).status).toBe(200);
    await sleep(500);
    expect(rocketchatDeactivations()).toHaveLength(before);
    expect((await movers(ids)).slice(-4).every((row) => row.status === 'held')).toBe(true);
    const again = await post('alice', `/events/${settled[0]!.id}/approve`);
    expect(again.status).toBe(409);
    expect((await post('bob', '/held/approve')).status).toBe(200);

    for (const row of settled) {
      const outcomes = await jml.resultOf(row.workflow_id);
      expect(outcomes).toEqual([expect.objectContaining({ system: 'rocketchat', action: 'deactivate', status: 'verified' })]);
    }
    expect(rest.every((member) => rocketchatActive(member.userName) === false)).toBe(true);
    const approvals = await jml.database.query<{ actor: string; action: string; data: { approvedBy?: string[] } }>(
      `SELECT actor, action, data FROM audit_event WHERE event_id = ANY($1::uuid[]) AND action IN ('operator.approve', 'lifecycle.mover.approved') ORDER BY id`,
      [settled.map((row) => row.id)],
    );
    expect(approvals.filter((row) => row.action === 'operator.approve').map((row) => row.data.approvedBy)).toEqual(settled.map(() => ['alice', 'bob']));
    expect(approvals.filter((row) => row.action === 'lifecycle.mover.approved')).toHaveLength(4);
  });

  it('holds an identity provider\'s PATCH that removes many members, and a rejection sends nothing', async () => {
    const members = await people(3);
    const created = await jml.scim.post('/Groups', { schemas: [CORE_GROUP], displayName: 'team', members: members.map((member) => ({ value: member.id })) });
    expect(created.status).toBe(201);
    const ids = members.map((member) => member.id);
    await waitUntil(() => movers(ids), (rows) => rows.length === 3 && rows.every((row) => row.status === 'completed'));
    const before = rocketchatDeactivations().length;

    // Entra ID's push: one remove operation naming every member that left.
    const patched = await jml.scim.patch(`/Groups/${created.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Remove', path: 'members', value: ids.map((value) => ({ value })) }],
    });
    expect(patched.status).toBeLessThan(300);
    const read = await jml.scim.get<{ id: string; members?: unknown[] }>(`/Groups/${created.body.id}`);
    expect(read.body.members ?? []).toHaveLength(0);

    const held = await waitUntil(async () => (await movers(ids)).slice(3), (rows) => rows.length === 3 && rows.every((row) => row.status === 'held'));
    expect(held.map((row) => row.status)).toEqual(['held', 'held', 'held']);
    const post = await operatorApi();
    for (const row of held) expect((await post('alice', `/events/${row.id}/reject`)).status).toBe(200);
    for (const row of held) expect((await jml.resultOf(row.workflow_id)).every((outcome) => outcome.status === 'cancelled')).toBe(true);
    expect(rocketchatDeactivations()).toHaveLength(before);
    expect(members.every((member) => rocketchatActive(member.userName) === true)).toBe(true);
  });
});
