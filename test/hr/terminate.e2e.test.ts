// Terminate now (issue 16) against a whole jml: real PostgreSQL, real Temporal, simulated systems.
// The operator API, the CLI command and the idempotency and future-date rules they share.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { terminateCommand } from '../../src/cli/terminate.js';
import { parseEnvironment } from '../../src/config.js';
import { EVERYONE_EVERYWHERE } from '../../src/lifecycle/policy.js';
import { lifecycleSettingsOf } from '../../src/lifecycle/settings.js';
import type { SystemName } from '../../src/connectors/types.js';
import { provisionPerson, startTestSystem, type TestSystem } from '../support/system.js';

const LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';
const DONE = ['succeeded', 'verified'];

let jml: TestSystem;
let operatorToken: string;
let auditorToken: string;
let counter = 0;

beforeAll(async () => {
  // The guard has tests of its own; here every leaver should pass it.
  jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' } });
  operatorToken = (await createToken(jml.system.db, { name: 'walter', kind: 'operator' })).token;
  auditorToken = (await createToken(jml.system.db, { name: 'audrey', kind: 'auditor' })).token;
});

afterAll(async () => {
  await jml.close();
});

async function provision(extra: Record<string, unknown> = {}) {
  counter++;
  return provisionPerson(jml, 'walkout', counter, extra);
}

async function terminate(id: string, body: unknown, token = operatorToken, raw?: string) {
  const response = await fetch(`${jml.system.url}/api/identities/${id}/terminate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { leaver?: { id: string; workflowId: string } } };
}

const leaversOf = (identityId: string) =>
  jml.database.query<{ id: string; workflow_id: string; status: string; actor: string }>(`SELECT id, workflow_id, status, actor FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [identityId]);

async function waitForStatus(eventId: string, statuses: string[]) {
  for (let waited = 0; waited < 10_000; waited += 100) {
    const [row] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [eventId]);
    if (row && statuses.includes(row.status)) return row.status;
    await sleep(100);
  }
  throw new Error(`event ${eventId} never reached ${statuses.join(' or ')}`);
}

describe('POST /api/identities/{id}/terminate', () => {
  it('deactivates the person in jml and every system, recording the operator and the reason', async () => {
    const person = await provision();
    const answer = await terminate(person.id, { reason: 'walked out, security incident 4711' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ identityId: person.id, userName: person.userName, outcome: 'terminated', by: 'walter', reason: 'walked out, security incident 4711', supersededTerminationDate: null });
    const outcomes = await jml.resultOf(answer.body.leaver!.workflowId);
    expect(outcomes.map((outcome) => outcome.system).sort()).toEqual(['mendix', 'rocketchat', 'userapi']);
    expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    const { simulators } = jml.simulators;
    expect(simulators.userapi.users().find((user) => user.id === person.externalId)?.active).toBe(false);
    expect(simulators.rocketchat.users().find((user) => user.username === person.userName)?.active).toBe(false);
    expect(simulators.mendix.users().find((user) => user.email === person.email)?.active).toBe(false);

    const read = await jml.scim.get(`/Users/${person.id}`);
    expect(read.body.active).toBe(false);
    expect((read.body[LIFECYCLE] as { terminationDate?: string }).terminationDate).toEqual(expect.any(String));
    const [leaver] = await leaversOf(person.id);
    expect(leaver?.actor).toBe('walter');
    const [audit] = await jml.database.query<{ actor: string; data: { reason: string; tokenId: string; after: { active: boolean } } }>(
      `SELECT actor, data FROM audit_event WHERE identity_id = $1 AND action = 'operator.terminate'`, [person.id]);
    expect(audit).toMatchObject({ actor: 'walter', data: { reason: 'walked out, security incident 4711', after: { active: false } } });
  });

  it('is idempotent: terminating twice makes one leaver and one set of downstream calls', async () => {
    const person = await provision();
    const [first, second] = await Promise.all([terminate(person.id, { reason: 'twice' }), terminate(person.id, { reason: 'twice' })]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.body.outcome, second.body.outcome].sort()).toEqual(['already_inactive', 'terminated']);
    expect(first.body.leaver!.id).toBe(second.body.leaver!.id);
    await jml.resultOf(first.body.leaver!.workflowId);
    const third = await terminate(person.id, { reason: 'three times' });
    expect(third.body.outcome).toBe('already_inactive');
    expect(await leaversOf(person.id)).toHaveLength(1);
    const deactivations = jml.simulators.simulators.userapi.calls().filter((call) => call.path === `/v1/users/${person.externalId}/deactivate` && call.status === 204);
    expect(deactivations).toHaveLength(1);
    const audit = await jml.database.query<{ action: string }>(`SELECT action FROM audit_event WHERE identity_id = $1 AND action LIKE 'operator.terminate%' ORDER BY id`, [person.id]);
    expect(audit.map((row) => row.action).sort()).toEqual(['operator.terminate', 'operator.terminate.unchanged', 'operator.terminate.unchanged']);
  });

  it('supersedes a future termination date: the waiting leaver acts now, and stays the only one', async () => {
    const date = new Date(Date.now() + 3_600_000).toISOString();
    const person = await provision({ [LIFECYCLE]: { terminationDate: date } });
    const [waiting] = await leaversOf(person.id);
    expect(await waitForStatus(waiting!.id, ['waiting'])).toBe('waiting');
    const answer = await terminate(person.id, { reason: 'leaving early, garden leave' });
    expect(answer.body).toMatchObject({ outcome: 'terminated', supersededTerminationDate: date, leaver: { id: waiting!.id } });
    const outcomes = await jml.resultOf(waiting!.workflow_id);
    expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === person.externalId)?.active).toBe(false);
    expect(await leaversOf(person.id)).toHaveLength(1);
    const audit = await jml.database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 ORDER BY id`, [waiting!.id]);
    expect(audit.map((row) => row.action)).toContain('lifecycle.leaver.rescheduled');
  });

  it('refuses a missing reason, a bad id, an unknown person, a large body and the wrong roles', async () => {
    const person = await provision();
    expect(await terminate(person.id, {})).toMatchObject({ status: 400, body: { error: 'InvalidRequest', errors: [{ field: 'reason' }] } });
    expect(await terminate(person.id, { reason: '   ' })).toMatchObject({ status: 400, body: { errors: [{ field: 'reason' }] } });
    expect(await terminate(person.id, { reason: 'x', extra: 1 })).toMatchObject({ status: 400, body: { errors: [{ field: 'extra' }] } });
    expect(await terminate('not-a-uuid', { reason: 'x' })).toMatchObject({ status: 400, body: { errors: [{ field: 'id' }] } });
    expect(await terminate('00000000-0000-4000-8000-000000000000', { reason: 'x' })).toMatchObject({ status: 404, body: { error: 'UnknownPerson' } });
    expect((await terminate(person.id, undefined, operatorToken, JSON.stringify({ reason: 'x'.repeat(20_000) }))).status).toBe(413);
    expect(await terminate(person.id, { reason: 'x' }, auditorToken)).toMatchObject({ status: 403, body: { error: 'Forbidden' } });
    const scimToken = (await createToken(jml.system.db, { name: 'okta-terminate', kind: 'scim' })).token;
    expect((await terminate(person.id, { reason: 'x' }, scimToken)).status).toBe(403);
    expect((await terminate(person.id, { reason: 'x' }, 'jml_op_wrong')).status).toBe(401);
    expect(await leaversOf(person.id)).toHaveLength(0);
    expect((await jml.scim.get(`/Users/${person.id}`)).body.active).toBe(true);
  });
});

describe('jml terminate', () => {
  function intake() {
    const env = parseEnvironment({ TEMPORAL_TASK_QUEUE: jml.taskQueue, JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' });
    const systems = Object.keys(jml.connectors) as SystemName[];
    return { db: jml.system.db, lifecycle: lifecycleSettingsOf(env, systems, EVERYONE_EVERYWHERE), onOutboxWritten: () => jml.system.relay?.kick() };
  }
  const io = () => {
    const output = { out: '', err: '' };
    return { output, io: { out: (text: string) => void (output.out += text), err: (text: string) => void (output.err += text) } };
  };

  it('terminates a person named by userName, and says so', async () => {
    const person = await provision();
    const { output, io: streams } = io();
    expect(await terminateCommand(intake(), { subject: person.userName.toUpperCase(), reason: 'badge revoked', as: 'nightshift' }, streams)).toBe(0);
    expect(output.out).toContain(`Terminated ${person.userName}`);
    const [leaver] = await leaversOf(person.id);
    expect(leaver?.actor).toBe('nightshift');
    const outcomes = await jml.resultOf(leaver!.workflow_id);
    expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
  });

  it('refuses an unknown person (1) and a missing reason (2), changing nothing', async () => {
    const person = await provision();
    const unknown = io();
    expect(await terminateCommand(intake(), { subject: 'nobody-at-all', reason: 'x' }, unknown.io)).toBe(1);
    expect(unknown.output.err).toContain('No live identity');
    const noReason = io();
    expect(await terminateCommand(intake(), { subject: person.externalId }, noReason.io)).toBe(2);
    const blank = io();
    expect(await terminateCommand(intake(), { subject: person.externalId, reason: ' ' }, blank.io)).toBe(2);
    expect(blank.output.err).toContain('--reason');
    expect(await leaversOf(person.id)).toHaveLength(0);
  });
});

describe('the Terminate now button on the evidence page', () => {
  const form = (path: string, fields: Record<string, string>, headers: Record<string, string>) =>
    fetch(`${jml.system.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: jml.system.url!, ...headers }, body: new URLSearchParams(fields).toString() });
  async function logIn(token: string) {
    const response = await form('/ui/login', { token }, {});
    expect(response.status).toBe(303);
    return response.headers.getSetCookie().find((header) => header.startsWith('jml_ui_session='))!.split(';')[0]!;
  }
  const page = async (path: string, cookie: string) => (await fetch(`${jml.system.url}${path}`, { headers: { cookie } })).text();

  it('is shown to operators for an active person, terminates with the reason, and is gone afterwards', async () => {
    const person = await provision();
    const cookie = await logIn(operatorToken);
    const evidence = `/ui/evidence?subject=${person.id}`;
    expect(await page(evidence, cookie)).toContain(`action="/ui/identities/${person.id}/terminate"`);

    // The reason is required: a blank one changes nothing.
    const blank = await form(`/ui/identities/${person.id}/terminate`, { reason: ' ' }, { cookie });
    expect(blank.status).toBe(303);
    expect(await page(evidence, cookie)).toContain('Invalid request: reason');
    expect(await leaversOf(person.id)).toHaveLength(0);

    const posted = await form(`/ui/identities/${person.id}/terminate`, { reason: 'escorted out' }, { cookie });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(evidence);
    const after = await page(evidence, cookie);
    expect(after).toContain(`Terminated ${person.userName} now`);
    expect(after).not.toContain('/terminate"');
    const [leaver] = await leaversOf(person.id);
    expect(leaver?.actor).toBe('walter');
    expect((await jml.resultOf(leaver!.workflow_id)).every((outcome) => DONE.includes(outcome.status))).toBe(true);
  });

  it('is not shown to auditors, who are refused the post', async () => {
    const person = await provision();
    const cookie = await logIn(auditorToken);
    expect(await page(`/ui/evidence?subject=${person.id}`, cookie)).not.toContain('/terminate"');
    expect((await form(`/ui/identities/${person.id}/terminate`, { reason: 'x' }, { cookie })).status).toBe(403);
    expect(await leaversOf(person.id)).toHaveLength(0);
  });
});
