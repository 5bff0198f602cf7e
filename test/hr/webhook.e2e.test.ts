// The HR webhook (issue 16, decision 026) against a whole jml: real PostgreSQL, real Temporal,
// simulated systems. Signed events from an hr token's holder take effect, with the token's name as
// the actor; a missing, wrong or other kind of token, a bad signature, a stale timestamp and a
// replay are refused and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../src/auth/tokens.js';
import { signHrEvent } from '../../src/hr/webhook.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const SECRET = 'hr-webhook-secret-0123456789abcdef0123456789';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const DONE = ['succeeded', 'verified'];

let jml: TestSystem;
let hrToken: string;
let operatorToken: string;
let counter = 0;

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_HR_WEBHOOK_SECRET: SECRET, JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' } });
  hrToken = (await createToken(jml.system.db, { name: 'bamboohr', kind: 'hr' })).token;
  operatorToken = (await createToken(jml.system.db, { name: 'hr-ops', kind: 'operator' })).token;
});

afterAll(async () => {
  await jml.close();
});

async function provision() {
  counter++;
  const userName = `hook${counter}`;
  const externalId = `W-hook-${counter}`;
  const email = `${userName}@example.com`;
  jml.simulators.simulators.seedFromIdentity({ userName, email, externalId });
  const created = await jml.scim.post('/Users', { schemas: [CORE_USER, ENTERPRISE], userName, externalId, emails: [{ value: email, primary: true }], [ENTERPRISE]: { department: 'Engineering' } });
  expect(created.status).toBe(201);
  return { id: created.body.id, userName, externalId };
}

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

async function deliver(body: string, headers: { timestamp?: string; signature?: string; token?: string | null } = {}) {
  const timestamp = headers.timestamp ?? nowSeconds();
  const signature = headers.signature ?? signHrEvent(SECRET, timestamp, body);
  const token = headers.token === undefined ? hrToken : headers.token;
  const response = await fetch(`${jml.system.url}/api/hr/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-jml-timestamp': timestamp, 'x-jml-signature': signature, ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const eventsOf = (identityId: string) =>
  jml.database.query<{ kind: string; workflow_id: string; status: string; actor: string; effective_at: Date }>(
    `SELECT kind, workflow_id, status, actor, effective_at FROM lifecycle_event WHERE identity_id = $1 AND kind <> 'joiner' ORDER BY created_at`, [identityId]);

describe('POST /api/hr/events', () => {
  it('applies a signed leaver at once, and refuses the same delivery again as a replay', async () => {
    const person = await provision();
    const body = JSON.stringify({ id: 'bamboo-881', person: { attribute: 'externalId', value: person.externalId }, event: 'leaver' });
    const timestamp = nowSeconds();
    const answer = await deliver(body, { timestamp });
    expect(answer).toMatchObject({ status: 200, body: { identityId: person.id, outcome: 'applied', kind: 'leaver', effectiveAt: null } });
    const [leaver] = await eventsOf(person.id);
    // The hr token's name is who did it.
    expect(leaver?.actor).toBe('bamboohr');
    expect((await jml.resultOf(leaver!.workflow_id)).every((outcome) => DONE.includes(outcome.status))).toBe(true);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === person.externalId)?.active).toBe(false);
    const [audit] = await jml.database.query<{ actor: string; data: { hrEventId: string } }>(`SELECT actor, data FROM audit_event WHERE identity_id = $1 AND action = 'hr.event.applied'`, [person.id]);
    expect(audit).toMatchObject({ actor: 'bamboohr', data: { hrEventId: 'bamboo-881' } });

    expect(await deliver(body, { timestamp })).toMatchObject({ status: 409, body: { error: 'Replay' } });
    // Signed anew, the same event is accepted and changes nothing: still one leaver. The new
    // signing time is one second later on purpose: re-signed within the same second, the signature
    // is byte for byte the first one, which the server rightly refuses as a replay.
    expect((await deliver(body, { timestamp: String(Number(timestamp) + 1) })).body).toMatchObject({ outcome: 'unchanged' });
    expect(await eventsOf(person.id)).toHaveLength(1);
  });

  it('schedules a future-dated leaver and applies a mover', async () => {
    const leaving = await provision();
    const scheduled = await deliver(JSON.stringify({ person: { value: leaving.externalId }, event: 'leaver', effectiveDate: '2099-01-31' }));
    expect(scheduled.body).toMatchObject({ outcome: 'applied', kind: 'leaver', effectiveAt: '2099-01-31T00:00:00.000Z' });
    expect((await eventsOf(leaving.id)).map((event) => event.effective_at.toISOString())).toEqual(['2099-01-31T00:00:00.000Z']);
    expect((await jml.scim.get(`/Users/${leaving.id}`)).body.active).toBe(true);

    const moving = await provision();
    const moved = await deliver(JSON.stringify({ person: { attribute: 'userName', value: moving.userName.toUpperCase() }, event: 'mover', department: 'Finance' }));
    expect(moved.body).toMatchObject({ outcome: 'applied', kind: 'mover' });
    expect((await jml.scim.get(`/Users/${moving.id}`)).body[ENTERPRISE]).toMatchObject({ department: 'Finance' });
  });

  it('refuses a bad signature, a stale or missing timestamp, a large body, and bad events, changing nothing', async () => {
    const person = await provision();
    const body = JSON.stringify({ person: { value: person.externalId }, event: 'leaver' });
    const wrongKey = signHrEvent('another-secret-0123456789abcdef0123456789', nowSeconds(), body);
    expect(await deliver(body, { signature: wrongKey })).toMatchObject({ status: 401, body: { error: 'Unauthorized' } });
    const timestamp = nowSeconds();
    const tampered = signHrEvent(SECRET, timestamp, body.replace('leaver', 'mover'));
    expect((await deliver(body, { timestamp, signature: tampered })).status).toBe(401);
    expect((await deliver(body, { signature: 'sha256=00' })).status).toBe(401);
    const stale = String(Math.floor(Date.now() / 1000) - 301);
    expect(await deliver(body, { timestamp: stale })).toMatchObject({ status: 401, body: { detail: expect.stringContaining('at most 300 s') as unknown } });
    const ahead = String(Math.floor(Date.now() / 1000) + 310);
    expect((await deliver(body, { timestamp: ahead })).status).toBe(401);
    expect((await deliver(body, { timestamp: 'yesterday' })).status).toBe(401);
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver', id: 'x'.repeat(20_000) }))).status).toBe(413);
    expect(await deliver('{not json')).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect(await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'promotion' }))).toMatchObject({ status: 400, body: { errors: [{ field: 'event' }] } });
    expect((await deliver(JSON.stringify({ person: { value: 'W-nobody' }, event: 'leaver' }))).status).toBe(404);
    expect(await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'mover', effectiveDate: '2099-01-01' }))).toMatchObject({ status: 422, body: { detail: expect.stringContaining('at least one of department') as unknown } });
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver', effectiveDate: 'next week' }))).status).toBe(422);
    expect(await eventsOf(person.id)).toHaveLength(0);
    expect((await jml.scim.get(`/Users/${person.id}`)).body.active).toBe(true);
  });

  it('needs a live hr token besides the signature; an hr token can do nothing else', async () => {
    const person = await provision();
    const body = JSON.stringify({ person: { value: person.externalId }, event: 'leaver' });
    const missing = await deliver(body, { token: null });
    expect(missing).toMatchObject({ status: 401, body: { error: 'Unauthorized', detail: expect.stringContaining('--role hr') as unknown } });
    expect((await deliver(body, { token: `jml_hr_${'x'.repeat(43)}` })).status).toBe(401);
    const operator = (await createToken(jml.system.db, { name: 'ops', kind: 'operator' })).token;
    expect(await deliver(body, { token: operator })).toMatchObject({ status: 403, body: { detail: expect.stringContaining('kind hr') as unknown } });
    const scim = (await createToken(jml.system.db, { name: 'okta-hr', kind: 'scim' })).token;
    expect((await deliver(body, { token: scim })).status).toBe(403);
    const revoked = await createToken(jml.system.db, { name: 'workday-old', kind: 'hr' });
    await revokeToken(jml.system.db, revoked.record.id);
    expect((await deliver(body, { token: revoked.token })).status).toBe(401);

    // The hr token on the other surfaces: refused, it provisions nothing and reads nothing.
    const asHr = { authorization: `Bearer ${hrToken}` };
    expect((await fetch(`${jml.system.url}/scim/v2/Users`, { headers: asHr })).status).toBe(403);
    expect((await fetch(`${jml.system.url}/api/events`, { headers: asHr })).status).toBe(403);
    expect(await eventsOf(person.id)).toHaveLength(0);
  });
});

/** The person's lifecycle events as the operator API lists them. */
async function listed(identityId: string) {
  const response = await fetch(`${jml.system.url}/api/events?identity=${identityId}`, { headers: { authorization: `Bearer ${operatorToken}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { events: { id: string; kind: string; status: string; effectiveAt: string; workflowId: string }[] }).events.filter((event) => event.kind !== 'joiner');
}

const auditOf = (eventId: string) =>
  jml.database.query<{ action: string; actor: string; occurred_at: Date; data: Record<string, unknown> }>(`SELECT action, actor, occurred_at, data FROM audit_event WHERE event_id = $1 ORDER BY id`, [eventId]);

const departmentOf = async (id: string) => ((await jml.scim.get(`/Users/${id}`)).body[ENTERPRISE] as { department?: string }).department;

describe('POST /api/hr/events with a future effectiveDate (dated joiners and movers)', () => {
  it('accepts a dated mover with 202, lists it, changes nothing before its date and applies it on the date', async () => {
    const person = await provision();
    const date = new Date(Date.now() + 4000).toISOString();
    const answer = await deliver(JSON.stringify({ id: 'wd-transfer-1', person: { value: person.externalId }, event: 'mover', department: 'Finance', effectiveDate: date }));
    expect(answer).toMatchObject({ status: 202, body: { identityId: person.id, outcome: 'scheduled', kind: 'mover', effectiveAt: date } });
    const [mover] = await listed(person.id);
    expect(mover).toMatchObject({ kind: 'mover', effectiveAt: date });
    expect(['pending', 'waiting']).toContain(mover!.status);
    expect(await departmentOf(person.id)).toBe('Engineering');

    await jml.resultOf(mover!.workflowId);
    expect(await departmentOf(person.id)).toBe('Finance');
    expect((await listed(person.id)).map((event) => event.status)).toEqual(['completed']);
    const audit = await auditOf(mover!.id);
    expect(audit[0]).toMatchObject({ action: 'lifecycle.mover.detected', actor: 'bamboohr' });
    const effective = audit.find((row) => row.action === 'lifecycle.mover.effective');
    expect(effective?.data).toMatchObject({ changes: { department: { from: 'Engineering', to: 'Finance' } } });
    // Written on its date, not when it was accepted.
    expect(effective!.occurred_at.getTime()).toBeGreaterThanOrEqual(Date.parse(date));
    const [received] = await jml.database.query<{ data: Record<string, unknown> }>(`SELECT data FROM audit_event WHERE identity_id = $1 AND action = 'hr.event.scheduled'`, [person.id]);
    expect(received?.data).toMatchObject({ hrEventId: 'wd-transfer-1', effectiveAt: date });
  });

  it('answers a redelivery as unchanged, moves the date when the same change comes with a new one, and replaces a different change', async () => {
    const person = await provision();
    const body = JSON.stringify({ person: { value: person.externalId }, event: 'mover', title: 'Lead', effectiveDate: '2099-01-31' });
    const timestamp = nowSeconds();
    expect((await deliver(body, { timestamp })).status).toBe(202);
    expect(await deliver(body, { timestamp })).toMatchObject({ status: 409, body: { error: 'Replay' } });
    expect(await deliver(body, { timestamp: String(Number(timestamp) + 1) })).toMatchObject({ status: 200, body: { outcome: 'unchanged' } });
    expect((await listed(person.id)).map((event) => event.effectiveAt)).toEqual(['2099-01-31T00:00:00.000Z']);

    const moved = await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'mover', title: 'Lead', effectiveDate: '2099-02-15' }));
    expect(moved).toMatchObject({ status: 202, body: { outcome: 'rescheduled', kind: 'mover', effectiveAt: '2099-02-15T00:00:00.000Z' } });
    const [first] = await listed(person.id);
    expect(first).toMatchObject({ effectiveAt: '2099-02-15T00:00:00.000Z' });
    expect(['pending', 'waiting']).toContain(first!.status);
    expect((await auditOf(first!.id)).map((row) => row.action)).toContain('lifecycle.mover.rescheduled');

    const replaced = await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'mover', title: 'Principal', effectiveDate: '2099-02-15' }));
    expect(replaced).toMatchObject({ status: 202, body: { outcome: 'scheduled' } });
    const events = await listed(person.id);
    expect(events.find((event) => event.id === first!.id)?.status).toBe('cancelled');
    expect(events.filter((event) => event.id !== first!.id).map((event) => [event.status, event.effectiveAt])).toEqual([[expect.stringMatching(/^(pending|waiting)$/), '2099-02-15T00:00:00.000Z']]);
    const cancelled = (await auditOf(first!.id)).find((row) => row.action === 'lifecycle.mover.cancelled');
    expect(cancelled?.data).toMatchObject({ reason: 'replaced by a mover dated 2099-02-15T00:00:00.000Z' });
    expect((await jml.scim.get(`/Users/${person.id}`)).body.title).toBeUndefined();
  });

  it('cancels a dated mover when the person leaves first, over the webhook, over SCIM or by terminate-now', async () => {
    for (const leave of ['webhook', 'scim', 'terminate'] as const) {
      const person = await provision();
      expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'mover', department: 'Legal', effectiveDate: '2099-03-01' }))).status).toBe(202);
      const [mover] = await listed(person.id);
      if (leave === 'webhook') expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver' }))).body).toMatchObject({ outcome: 'applied', kind: 'leaver' });
      else if (leave === 'scim') expect((await jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })).status).toBe(200);
      else {
        const terminated = await fetch(`${jml.system.url}/api/identities/${person.id}/terminate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ reason: 'walked out' }),
        });
        expect(terminated.status).toBe(200);
      }
      const cancelled = (await auditOf(mover!.id)).find((row) => row.action === 'lifecycle.mover.cancelled');
      expect(cancelled?.data.reason).toMatch(/^a leaver effective .* comes before the mover dated 2099-03-01T00:00:00.000Z$/);
      const events = await listed(person.id);
      expect(events.find((event) => event.id === mover!.id)?.status).toBe('cancelled');
      const leaver = events.find((event) => event.kind === 'leaver')!;
      expect((await jml.resultOf(leaver.workflowId)).every((outcome) => DONE.includes(outcome.status))).toBe(true);
      expect(await departmentOf(person.id)).toBe('Engineering');
    }
  });

  it('refuses a dated mover for someone who will have left by then', async () => {
    const person = await provision();
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver', effectiveDate: '2099-01-31' }))).status).toBe(200);
    const refused = await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'mover', department: 'Legal', effectiveDate: '2099-02-01' }));
    expect(refused).toMatchObject({ status: 422, body: { detail: `${person.userName} leaves on 2099-01-31T00:00:00.000Z, before this mover would take effect on 2099-02-01T00:00:00.000Z` } });
    expect((await listed(person.id)).map((event) => event.kind)).toEqual(['leaver']);
  });

  it('re-activates someone who left on the date a dated joiner names; for someone active it is unchanged, with the reason', async () => {
    const person = await provision();
    const userapi = () => jml.simulators.simulators.userapi.users().find((user) => user.id === person.externalId);
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver' }))).status).toBe(200);
    const [leaver] = await listed(person.id);
    await jml.resultOf(leaver!.workflowId);
    expect(userapi()?.active).toBe(false);

    const date = new Date(Date.now() + 4000).toISOString();
    const answer = await deliver(JSON.stringify({ id: 'bamboo-prehire-7', person: { value: person.externalId }, event: 'joiner', department: 'Sales', effectiveDate: date }));
    expect(answer).toMatchObject({ status: 202, body: { outcome: 'scheduled', kind: 'rehire', effectiveAt: date } });
    expect((await jml.scim.get(`/Users/${person.id}`)).body.active).toBe(false);
    const rehire = (await listed(person.id)).find((event) => event.kind === 'rehire')!;
    expect(rehire.effectiveAt).toBe(date);
    // Reactivated where each system can; Mendix's API cannot, so a person does it there.
    const outcomes = await jml.resultOf(rehire.workflowId);
    expect(outcomes.map(({ system, action, status }) => [system, action, DONE.includes(status) ? 'done' : status]).sort()).toEqual([
      ['mendix', 'reactivate', 'manual_action_required'],
      ['rocketchat', 'reactivate', 'done'],
      ['userapi', 'reactivate', 'done'],
    ]);
    const after = (await jml.scim.get(`/Users/${person.id}`)).body;
    expect(after.active).toBe(true);
    expect((after[ENTERPRISE] as { department: string }).department).toBe('Sales');
    expect(userapi()?.active).toBe(true);
    const effective = (await auditOf(rehire.id)).find((row) => row.action === 'lifecycle.rehire.effective');
    expect(effective!.occurred_at.getTime()).toBeGreaterThanOrEqual(Date.parse(date));

    const again = await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'joiner', effectiveDate: '2099-01-01' }));
    expect(again).toMatchObject({ status: 200, body: { outcome: 'unchanged', detail: `${person.userName} is active: a joiner dated 2099-01-01T00:00:00.000Z re-activates someone who has left, so there is nothing to schedule` } });
    expect((await listed(person.id)).filter((event) => event.kind === 'rehire')).toHaveLength(1);
  });

  it('withdraws a dated rehire when a leaver arrives before it, and moves it when the same joiner comes with a new date', async () => {
    const person = await provision();
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver' }))).status).toBe(200);
    const body = (effectiveDate: string) => JSON.stringify({ person: { value: person.externalId }, event: 'joiner', effectiveDate });
    expect((await deliver(body('2099-04-01'))).body).toMatchObject({ outcome: 'scheduled', kind: 'rehire' });
    expect((await deliver(body('2099-04-15'))).body).toMatchObject({ outcome: 'rescheduled', effectiveAt: '2099-04-15T00:00:00.000Z' });
    const rehire = (await listed(person.id)).find((event) => event.kind === 'rehire')!;
    expect(rehire.effectiveAt).toBe('2099-04-15T00:00:00.000Z');

    // Its own id: the same body signed within the same second would be the first leaver's signature, a replay.
    expect((await deliver(JSON.stringify({ id: 'offer-withdrawn', person: { value: person.externalId }, event: 'leaver' }))).status).toBe(200);
    expect((await listed(person.id)).find((event) => event.id === rehire.id)?.status).toBe('cancelled');
    const cancelled = (await auditOf(rehire.id)).find((row) => row.action === 'lifecycle.rehire.cancelled');
    expect(cancelled?.data).toMatchObject({ reason: 'a leaver withdraws the rehire dated 2099-04-15T00:00:00.000Z' });
    expect((await jml.scim.get(`/Users/${person.id}`)).body.active).toBe(false);
  });
});
