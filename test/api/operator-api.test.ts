// The operator API against a whole jml (real PostgreSQL, real Temporal, simulated downstream
// systems). The mass-deprovision guard holds every leaver here, so each one waits for an operator.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperatorRouter } from '../../src/api/router.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier, type TokenVerifier } from '../../src/auth/tokens.js';
import { createDatabase } from '../../src/db/client.js';
import { logger } from '../../src/logger.js';
import { workflowIdForEvent } from '../../workflows/contract.js';
import { listen } from '../support/scim-app.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

/** Done downstream: accepted (Mendix, which documents no read) or accepted and read back. */
const DONE = ['succeeded', 'verified'];

/** Asymmetric matchers typed as unknown, so they sit in object literals without `any`. */
const containing = (text: string): unknown => expect.stringContaining(text);
const anyString: unknown = expect.any(String);
const anyArray: unknown = expect.any(Array);
const objectContaining = (shape: Record<string, unknown>): unknown => expect.objectContaining(shape);

interface TargetJson {
  system: string;
  action: string;
  status: string;
  attempts: number;
  lastError: string | null;
  accountId: string | null;
  confirmedAt: string | null;
  updatedAt: string;
}

interface EventJson {
  id: string;
  identityId: string;
  kind: string;
  status: string;
  workflowId: string;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  targets: TargetJson[];
}

/** Every shape the API answers with, loosely: each test reads the fields it asserts on. */
interface ApiBody {
  error?: string;
  detail?: string;
  errors?: { field: string; message: string }[];
  events?: EventJson[];
  nextCursor?: string | null;
  status?: string;
  targets?: TargetJson[];
  approved?: { eventId: string }[];
  [field: string]: unknown;
}

interface ApiResponse {
  status: number;
  headers: Headers;
  body: ApiBody;
}

let jml: TestSystem;
let operatorToken: string;
let scimToken: string;

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '0', JML_GUARD_MIN_LEAVERS: '1000' } });
  operatorToken = (await createToken(jml.system.db, { name: 'alice', kind: 'operator' })).token;
  scimToken = (await createToken(jml.system.db, { name: 'okta-for-api-test', kind: 'scim' })).token;
});

afterAll(async () => {
  await jml.close();
});

async function call(baseUrl: string, method: string, path: string, options: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResponse> {
  const token = options.token === undefined ? operatorToken : options.token;
  const response = await fetch(`${baseUrl}/api${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as ApiBody };
}

const api = (method: string, path: string, options?: Parameters<typeof call>[3]) => call(jml.system.url!, method, path, options);

/** A person with an account in each simulator, provisioned over SCIM and then deactivated. */
async function leaver(userName: string): Promise<{ identityId: string; externalId: string }> {
  const externalId = `emp-${userName}`;
  const email = `${userName}@example.com`;
  jml.simulators.simulators.seedFromIdentity({ userName, email, externalId });
  const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName, externalId, active: true, emails: [{ value: email, type: 'work', primary: true }] });
  expect(created.status).toBe(201);
  const deactivated = await jml.scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  expect(deactivated.status).toBe(200);
  return { identityId: created.body.id, externalId };
}

/** Polls the database (not the rate-limited API) until the person's leaver reaches `status`. */
async function leaverIn(identityId: string, status: string): Promise<{ id: string; workflow_id: string }> {
  for (let polls = 0; ; polls++) {
    const [event] = await jml.database.query<{ id: string; workflow_id: string; status: string }>(
      `SELECT id, workflow_id, status FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [identityId]);
    if (event?.status === status) return event;
    if (polls > 600) throw new Error(`the leaver of ${identityId} is ${event?.status ?? 'missing'}, never ${status}`);
    await sleep(50);
  }
}

async function operatorAudit(eventId: string) {
  return jml.database.query<{ actor: string; action: string; data: Record<string, unknown> }>(
    `SELECT actor, action, data FROM audit_event WHERE event_id = $1 AND (action LIKE 'operator.%' OR action = 'lifecycle.leaver.approved') ORDER BY id`, [eventId]);
}

describe('operator API authentication', () => {
  it('answers 401 without a token or with an unknown one, 403 to a SCIM token, and counts each refusal', async () => {
    await jml.system.authFailures?.flush();
    const before = await jml.database.query(`SELECT 1 FROM audit_event WHERE action = 'auth.failed' AND data->>'realm' = 'operator'`);
    const none = await api('GET', '/events', { token: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="jml-operator"');
    expect(none.body).toEqual({ error: 'Unauthorized', detail: containing('--role operator') });
    const scim = await api('GET', '/events', { token: scimToken });
    expect(scim.status).toBe(403);
    expect(scim.body).toEqual({ error: 'Forbidden', detail: containing('may not list and read lifecycle events') });
    expect((await api('GET', '/events', { token: 'jml_op_not-a-real-token' })).status).toBe(401);
    // Refused before the body is read: an oversized body gets 401, not 413.
    expect((await api('POST', '/held/approve', { token: null, body: { padding: 'x'.repeat(100_000) } })).status).toBe(401);
    await jml.system.authFailures?.flush();
    const after = await jml.database.query<{ data: { count: number } }>(`SELECT data FROM audit_event WHERE action = 'auth.failed' AND data->>'realm' = 'operator'`);
    // Three refusals from one address in one window: one row that counts them.
    expect(after.length - before.length).toBe(1);
    expect(after.at(-1)?.data.count).toBe(3);

    const ok = await api('GET', '/events');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ events: anyArray, nextCursor: null });
  });
});

describe('operator API validation', () => {
  it('names each invalid field in a 400', async () => {
    const list = await api('GET', '/events?limit=500&status=asleep&identity=bob&colour=blue');
    expect(list.status).toBe(400);
    expect(list.body.error).toBe('InvalidRequest');
    expect(list.body.errors?.map((entry) => entry.field).sort()).toEqual(['colour', 'identity', 'limit', 'status']);
    expect(list.body.errors).toContainEqual({ field: 'colour', message: 'is not a known field' });
  });

  it('refuses malformed ids, unknown fields, non-JSON and oversized bodies; 404 for an unknown event', async () => {
    const badId = await api('GET', '/events/42');
    expect(badId.status).toBe(400);
    expect(badId.body.errors).toEqual([{ field: 'id', message: containing('UUID') }]);
    const unknown = randomUUID();
    const missing = await api('GET', `/events/${unknown}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: 'EventNotFound', detail: containing(unknown) });
    expect((await api('POST', `/events/${unknown}/approve`)).status).toBe(404);

    const badSystem = await api('POST', `/events/${unknown}/retry`, { body: { system: 'ldap' } });
    expect(badSystem.status).toBe(400);
    expect(badSystem.body.errors).toEqual([{ field: 'system', message: anyString }]);
    const extra = await api('POST', `/events/${unknown}/reject`, { body: { reason: 'x', by: 'mallory' } });
    expect(extra.status).toBe(400);
    const broken = await api('POST', `/events/${unknown}/retry`, { body: '{"system":' });
    expect(broken).toMatchObject({ status: 400, body: { error: 'InvalidRequest', detail: containing('not valid JSON') } });
    const form = await api('POST', `/events/${unknown}/retry`, { body: 'system=userapi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const large = await api('POST', `/events/${unknown}/reject`, { body: { reason: 'x'.repeat(20_000) } });
    expect(large.status).toBe(413);
    expect(large.body.error).toBe('PayloadTooLarge');
  });
});

describe('held leavers', () => {
  it('approved through the API: deactivated in every simulator, audited with the operator name', async () => {
    const { identityId, externalId } = await leaver('turing');
    const held = await leaverIn(identityId, 'held');
    expect(jml.simulators.simulators.userapi.calls().filter((entry) => entry.path.includes(externalId))).toHaveLength(0);

    const approved = await api('POST', `/events/${held.id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body).toEqual({ eventId: held.id, workflowId: held.workflow_id, signal: 'approve', status: 'pending', released: true, approvedBy: ['alice'], approvalsRequired: 1 });
    const again = await api('POST', `/events/${held.id}/approve`);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: 'EventNotInState', detail: containing('not held') });

    const outcomes = await jml.resultOf(held.workflow_id);
    expect(outcomes.map((outcome) => `${outcome.system}:${outcome.status}`).sort()).toEqual(['mendix:succeeded', 'rocketchat:verified', 'userapi:verified']);
    const { simulators } = jml.simulators;
    expect(simulators.rocketchat.users().find((user) => user.username === 'turing')?.active).toBe(false);
    expect(simulators.mendix.users().find((user) => user.email === 'turing@example.com')?.active).toBe(false);
    expect(simulators.userapi.users().find((user) => user.id === externalId)?.active).toBe(false);

    const audit = await operatorAudit(held.id);
    expect(audit.map(({ actor, action }) => ({ actor, action }))).toEqual([
      { actor: 'alice', action: 'operator.approve' },
      { actor: 'alice', action: 'lifecycle.leaver.approved' },
    ]);

    // The listing shows the person's leaver with each system's outcome and when it happened.
    const listed = await api('GET', `/events?identity=${identityId}`);
    expect(listed.status).toBe(200);
    const [event] = listed.body.events as EventJson[];
    expect(event).toMatchObject({ id: held.id, identityId, kind: 'leaver', status: 'completed', workflowId: held.workflow_id });
    expect(Date.parse(event!.completedAt!)).toBeGreaterThanOrEqual(Date.parse(event!.createdAt));
    expect(event!.targets.map(({ system, action, status }) => ({ system, action, status }))).toEqual([
      { system: 'mendix', action: 'deactivate', status: 'succeeded' },
      { system: 'rocketchat', action: 'deactivate', status: 'verified' },
      { system: 'userapi', action: 'deactivate', status: 'verified' },
    ]);
    for (const target of event!.targets) {
      expect(target.accountId).toEqual(anyString);
      expect(Date.parse(target.confirmedAt!)).toBeGreaterThanOrEqual(Date.parse(event!.createdAt));
      expect(target.attempts).toBe(1);
    }
  });

  it('rejected through the API: nothing sent downstream, the event cancelled', async () => {
    const { identityId, externalId } = await leaver('hamilton');
    const held = await leaverIn(identityId, 'held');
    const rejected = await api('POST', `/events/${held.id}/reject`, { body: { reason: 'HR feed glitch' } });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ eventId: held.id, signal: 'reject', status: 'cancelled' });

    const outcomes = await jml.resultOf(held.workflow_id);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    const { simulators } = jml.simulators;
    const hamiltonInRocketChat = simulators.rocketchat.users().find((user) => user.username === 'hamilton')!;
    expect(hamiltonInRocketChat.active).toBe(true);
    expect(simulators.rocketchat.calls().filter((entry) => JSON.stringify(entry.body ?? {}).includes(hamiltonInRocketChat._id) || entry.path.includes('hamilton'))).toHaveLength(0);
    expect(simulators.mendix.calls().filter((entry) => JSON.stringify(entry.body ?? {}).includes('hamilton@example.com'))).toHaveLength(0);
    expect(simulators.userapi.calls().filter((entry) => entry.path.includes(externalId))).toHaveLength(0);

    const shown = await api('GET', `/events/${held.id}`);
    expect(shown.body).toMatchObject({ status: 'cancelled', targets: [{ status: 'cancelled' }, { status: 'cancelled' }, { status: 'cancelled' }] });
    const audit = await operatorAudit(held.id);
    expect(audit).toEqual([{ actor: 'alice', action: 'operator.reject', data: objectContaining({ reason: 'HR feed glitch' }) }]);
    expect((await api('POST', `/events/${held.id}/approve`)).status).toBe(409);
  });

  it('approves a whole held burst in one call', async () => {
    const people = [await leaver('noether'), await leaver('germain')];
    const held = [await leaverIn(people[0]!.identityId, 'held'), await leaverIn(people[1]!.identityId, 'held')];
    const approved = await api('POST', '/held/approve');
    expect(approved.status).toBe(200);
    expect((approved.body.approved as { eventId: string }[]).map((entry) => entry.eventId).sort()).toEqual(held.map((event) => event.id).sort());
    for (const event of held) {
      expect((await jml.resultOf(event.workflow_id)).every((outcome) => DONE.includes(outcome.status))).toBe(true);
      expect(await operatorAudit(event.id)).toEqual(expect.arrayContaining([objectContaining({ actor: 'alice', action: 'operator.approve' })]));
    }
    expect((await api('POST', '/held/approve')).body).toEqual({ approved: [] });
  });
});

describe('retrying a permanent failure', () => {
  it('runs the failed target again after the fault is fixed, with a new idempotency-ref', async () => {
    const { simulators } = jml.simulators;
    const { identityId, externalId } = await leaver('knuth');
    simulators.userapi.setFaults({ statusByAccount: { [externalId]: 403 } });
    const held = await leaverIn(identityId, 'held');
    expect((await api('POST', `/events/${held.id}/approve`)).status).toBe(200);
    const first = await jml.resultOf(held.workflow_id);
    expect(first.find((outcome) => outcome.system === 'userapi')?.status).toBe('needs_attention');

    const failed = await api('GET', `/events/${held.id}`);
    expect(failed.body.status).toBe('needs_attention');
    const userapi = (failed.body.targets as TargetJson[]).find((target) => target.system === 'userapi')!;
    expect(userapi).toMatchObject({ status: 'needs_attention', lastError: containing('INSUFFICIENT_PERMISSIONS') });

    // Nothing of Mendix's needs attention; and the fault is still there, but the operator fixes it first.
    expect((await api('POST', `/events/${held.id}/retry`, { body: { system: 'mendix' } })).status).toBe(409);
    simulators.userapi.setFaults({});
    const retried = await api('POST', `/events/${held.id}/retry`, { body: { system: 'userapi' } });
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual({ eventId: held.id, workflowId: workflowIdForEvent(held.id, 1), generation: 1, targets: [{ system: 'userapi', action: 'deactivate' }] });
    expect((await api('POST', `/events/${held.id}/retry`)).status).toBe(409);

    expect(await jml.resultOf(workflowIdForEvent(held.id, 1))).toEqual([{ system: 'userapi', action: 'deactivate', status: 'verified' }]);
    expect(simulators.userapi.users().find((user) => user.id === externalId)?.active).toBe(false);
    const refs = simulators.userapi.calls().filter((entry) => entry.path === `/v1/users/${externalId}/deactivate`).map((entry) => entry.headers['idempotency-ref']);
    expect(refs).toEqual([`jml-${held.id}-userapi-deactivate`, `jml-${held.id}-userapi-deactivate-r1`]);

    const done = await api('GET', `/events/${held.id}`);
    expect(done.body).toMatchObject({ status: 'completed', runs: [{ workflowId: held.workflow_id }, { workflowId: workflowIdForEvent(held.id, 1) }] });
    expect((done.body.targets as TargetJson[]).find((target) => target.system === 'userapi')).toMatchObject({ status: 'verified', lastError: null, attempts: 2 });
    const audit = await operatorAudit(held.id);
    expect(audit.map(({ actor, action }) => ({ actor, action }))).toEqual([
      { actor: 'alice', action: 'operator.approve' },
      { actor: 'alice', action: 'lifecycle.leaver.approved' },
      { actor: 'alice', action: 'operator.retry' },
    ]);
    expect(audit[2]?.data).toMatchObject({ generation: 1, workflowId: workflowIdForEvent(held.id, 1) });
  });
});

describe('paging', () => {
  it('walks every event newest first, a page at a time, without repeats', async () => {
    const all = await api('GET', '/events?limit=200');
    const ids = (all.body.events as EventJson[]).map((event) => event.id);
    expect(ids.length).toBeGreaterThanOrEqual(6);
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page: ApiResponse = await api('GET', `/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      walked.push(...(page.body.events as EventJson[]).map((event) => event.id));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    expect(walked).toEqual(ids);
    const created = (all.body.events as EventJson[]).map((event) => Date.parse(event.createdAt));
    expect(created).toEqual([...created].sort((a, b) => b - a));
    const leavers = await api('GET', '/events?kind=leaver&status=completed');
    expect((leavers.body.events as EventJson[]).every((event) => event.kind === 'leaver' && event.status === 'completed')).toBe(true);
    expect((await api('GET', '/events?cursor=nonsense')).body.errors).toEqual([{ field: 'cursor', message: anyString }]);
  });
});

describe('operator API when the database is down', () => {
  it('answers 503, and still applies its rate limit per token', async () => {
    const db = createDatabase('postgresql://jml@127.0.0.1:1/nowhere', { poolSize: 1 });
    const stubVerifier: TokenVerifier = () => Promise.resolve({ tokenId: 't1', name: 'alice', kind: 'operator' });
    const app = express();
    app.use('/api', createOperatorRouter({ db, verifyToken: stubVerifier, authFailures: new AuthFailureGuard({ db, logger }), logger, rateLimit: { perSecond: 0.01, burst: 2 }, onOutboxWritten: () => {} }));
    const realVerifierApp = express();
    realVerifierApp.use('/api', createOperatorRouter({ db, verifyToken: createTokenVerifier({ db }), authFailures: new AuthFailureGuard({ db, logger }), logger, onOutboxWritten: () => {} }));
    const [stubbed, real] = [await listen(app), await listen(realVerifierApp)];
    try {
      const listed = await call(stubbed.baseUrl, 'GET', '/events');
      expect(listed.status).toBe(503);
      expect(listed.body).toEqual({ error: 'ServiceUnavailable', detail: containing('retry later') });
      expect((await call(stubbed.baseUrl, 'POST', `/events/${randomUUID()}/approve`)).status).toBe(503);
      const limited = await call(stubbed.baseUrl, 'GET', '/events');
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // The token itself cannot be checked: 503, not 401.
      expect((await call(real.baseUrl, 'GET', '/events')).status).toBe(503);
    } finally {
      await new Promise((resolve) => stubbed.server.close(resolve));
      await new Promise((resolve) => real.server.close(resolve));
      await db.$disconnect();
    }
  });
});
