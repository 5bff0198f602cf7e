// The HR webhook (issue 16, decision 026) against a whole jml: real PostgreSQL, real Temporal,
// simulated systems. Signed events from an hr token's holder take effect, with the token's name as
// the actor; a missing, wrong or other kind of token, a bad signature, a stale timestamp and a
// replay are refused and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../src/auth/tokens.js';
import { signHrEvent } from '../../src/hr/webhook.js';
import { CORE_USER } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const SECRET = 'hr-webhook-secret-0123456789abcdef0123456789';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const DONE = ['succeeded', 'verified'];

let jml: TestSystem;
let hrToken: string;
let counter = 0;

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_HR_WEBHOOK_SECRET: SECRET, JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' } });
  hrToken = (await createToken(jml.system.db, { name: 'bamboohr', kind: 'hr' })).token;
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
    const ahead = String(Math.floor(Date.now() / 1000) + 301);
    expect((await deliver(body, { timestamp: ahead })).status).toBe(401);
    expect((await deliver(body, { timestamp: 'yesterday' })).status).toBe(401);
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'leaver', id: 'x'.repeat(20_000) }))).status).toBe(413);
    expect(await deliver('{not json')).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect(await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'promotion' }))).toMatchObject({ status: 400, body: { errors: [{ field: 'event' }] } });
    expect((await deliver(JSON.stringify({ person: { value: 'W-nobody' }, event: 'leaver' }))).status).toBe(404);
    expect((await deliver(JSON.stringify({ person: { value: person.externalId }, event: 'mover', department: 'X', effectiveDate: '2099-01-01' }))).status).toBe(422);
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
