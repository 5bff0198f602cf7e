// The SCIM write path against the real PostgreSQL: each write commits the identity, its
// lifecycle event, the outbox row and the hash-chained audit rows together.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { CORE_USER, PATCH_OP, scimClient } from '../support/scim-client.js';

let database: TestDatabase;
let server: Server;
let scim: ReturnType<typeof scimClient>;
let baseUrl: string;
let kicks = 0;
let authFailures: AuthFailureGuard;

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  authFailures = new AuthFailureGuard({ db, logger });
  const app = createApp({
    db,
    scim: {
      db,
      verifyToken: createTokenVerifier({ db }),
      authFailures,
      maxBodyBytes: 64 * 1024,
      logger,
      lifecycle: { systems: ['rocketchat', 'mendix', 'userapi'], queuePrefix: 'test', retryDeadlineMs: 60_000 },
      onOutboxWritten: () => kicks++,
    },
  });
  server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { token } = await createToken(db, { name: 'okta-test', kind: 'scim' });
  scim = scimClient(`${baseUrl}/scim/v2`, token);
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await database.drop();
});

describe('SCIM write path', () => {
  it('creates a user with 201, a Location header and an absolute meta.location', async () => {
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: 'ada@example.com', active: true, emails: [{ value: 'ada@example.com', primary: true }] });
    expect(created.status).toBe(201);
    const meta = created.body.meta;
    expect(meta.location).toBe(`${baseUrl}/scim/v2/Users/${created.body.id}`);
    expect(created.headers.get('location')).toBe(meta.location);
    expect(meta.version).toBe('W/"1"');
    const [joiner] = await database.query<{ kind: string; status: string }>('SELECT kind, status FROM lifecycle_event WHERE identity_id = $1', [created.body.id]);
    expect(joiner).toEqual({ kind: 'joiner', status: 'completed' });
  });

  it('records a leaver, its three targets and one outbox row in the same commit as the PATCH', async () => {
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: 'grace@example.com', active: true });
    const kicksBefore = kicks;
    const patched = await scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(patched.status).toBe(200);
    expect(patched.body.active).toBe(false);
    expect(kicks).toBe(kicksBefore + 1);

    const events = await database.query<{ id: string; kind: string; workflow_id: string; actor: string }>(
      `SELECT id, kind, workflow_id, actor FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [created.body.id]);
    expect(events).toHaveLength(1);
    const [leaver] = events;
    expect(leaver!.workflow_id).toBe(`lifecycle-${leaver!.id}`);
    expect(leaver!.actor).toBe('okta-test');
    const targets = await database.query<{ system: string; action: string; status: string }>(
      'SELECT system, action, status FROM target_action WHERE event_id = $1 ORDER BY system', [leaver!.id]);
    expect(targets).toEqual([
      { system: 'mendix', action: 'deactivate', status: 'pending' },
      { system: 'rocketchat', action: 'deactivate', status: 'pending' },
      { system: 'userapi', action: 'deactivate', status: 'pending' },
    ]);
    const outbox = await database.query<{ workflow_id: string; dispatched_at: Date | null }>('SELECT workflow_id, dispatched_at FROM outbox WHERE workflow_id = $1', [leaver!.workflow_id]);
    expect(outbox).toEqual([{ workflow_id: leaver!.workflow_id, dispatched_at: null }]);
    const audit = await database.query<{ action: string; actor: string }>(
      'SELECT action, actor FROM audit_event WHERE identity_id = $1 ORDER BY id', [created.body.id]);
    expect(audit.map((row) => row.action)).toEqual([
      'scim.user.created', 'lifecycle.joiner.detected', 'scim.user.replaced', 'lifecycle.leaver.detected',
    ]);
  });

  it('does not create a second leaver when the same deactivation is delivered twice', async () => {
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: 'twice@example.com' });
    const body = { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] };
    expect((await scim.patch(`/Users/${created.body.id}`, body)).status).toBe(200);
    // RFC 7644 §3.5.2: a PATCH that changes nothing may answer 204; nothing is written.
    expect((await scim.patch(`/Users/${created.body.id}`, body)).status).toBe(204);
    const after = await scim.get(`/Users/${created.body.id}`);
    expect(after.body.meta.version).toBe('W/"2"');
    const [{ count }] = (await database.query<{ count: string }>(
      `SELECT count(*) FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [created.body.id])) as [{ count: string }];
    expect(Number(count)).toBe(1);
  });

  it('applies PATCHes racing on one person each to the version it read: all answered, none lost, one leaver', async () => {
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: 'racing@example.com', active: true });
    const id = created.body.id;
    // Each PATCH is one read and one write conditional on the version read (decision 019); a
    // write that finds another one landed first reads again and applies its operations to that.
    const answers = await Promise.all([
      ...['Engineer', 'Manager', 'Director'].map((title) => scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: title }] })),
      scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] }),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    const versions = answers.map((answer) => answer.headers.get('etag'));
    expect(new Set(versions).size).toBe(4);
    const after = await scim.get(`/Users/${id}`);
    expect(after.body.meta.version).toBe('W/"5"');
    expect(after.body.active).toBe(false);
    const audit = await database.query<{ action: string; data: { before: { title?: string }; after: { title?: string } } }>(
      `SELECT action, data FROM audit_event WHERE identity_id = $1 AND action = 'scim.user.replaced' ORDER BY id`, [id]);
    expect(audit).toHaveLength(4);
    const leavers = await database.query<{ id: string }>(`SELECT id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]);
    expect(leavers).toHaveLength(1);
    // RFC 7644 §3.14: a PATCH on a version that has moved on is refused, not applied to the new one.
    const stale = await scim.call('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'CEO' }] }, { 'if-match': created.body.meta.version });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '412' });
  });

  it('writes PUTs racing on one person each in full, the last one winning: all answered, one leaver, a stale If-Match refused', async () => {
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: 'replaced@example.com', active: true });
    const id = created.body.id;
    // A PUT is one plain read and one write conditional on it (decision 019); a write that finds
    // another one landed first takes the locked transaction instead, and still replaces in full.
    const replacement = (title: string, active: boolean) => ({ schemas: [CORE_USER], userName: 'replaced@example.com', title, active });
    const answers = await Promise.all([
      ...['Engineer', 'Manager', 'Director'].map((title) => scim.put(`/Users/${id}`, replacement(title, true))),
      scim.put(`/Users/${id}`, replacement('Leaving', false)),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(answers.map((answer) => answer.body.meta.version)).size).toBe(4);
    const after = await scim.get(`/Users/${id}`);
    expect(after.body.meta.version).toBe('W/"5"');
    const last = answers.find((answer) => answer.body.meta.version === 'W/"5"')!;
    expect({ title: after.body.title, active: after.body.active }).toEqual({ title: last.body.title, active: last.body.active });
    const audit = await database.query<{ action: string }>(`SELECT action FROM audit_event WHERE identity_id = $1 AND action = 'scim.user.replaced'`, [id]);
    expect(audit).toHaveLength(4);
    const leavers = await database.query<{ id: string }>(`SELECT id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]);
    expect(leavers).toHaveLength(1);
    const stale = await scim.call('PUT', `/Users/${id}`, replacement('CEO', true), { 'if-match': created.body.meta.version });
    expect(stale.status).toBe(412);
  });

  it('rejects a second user with the same userName in another case with 409 uniqueness', async () => {
    await scim.post('/Users', { schemas: [CORE_USER], userName: 'Linus@example.com' });
    const clash = await scim.post('/Users', { schemas: [CORE_USER], userName: 'linus@EXAMPLE.com' });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '409', scimType: 'uniqueness' });
  });

  it('answers a request without a valid token with 401 and audits the failure, never the query string', async () => {
    const response = await fetch(`${baseUrl}/scim/v2/Users?filter=${encodeURIComponent('userName eq "ada@example.com"')}`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await response.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    await authFailures.flush();
    const failures = await database.query<{ data: Record<string, unknown> }>(`SELECT data FROM audit_event WHERE action = 'auth.failed'`);
    expect(failures.map((row) => row.data)).toEqual([expect.objectContaining({ realm: 'scim', ip: '127.0.0.1', count: 1, paths: { 'GET /scim/v2/Users': 1 } })]);
    expect(JSON.stringify(failures)).not.toContain('example.com');
  });

  it('refuses a body over the size limit with 413 before parsing it', async () => {
    const huge = JSON.stringify({ schemas: [CORE_USER], userName: 'big', displayName: 'x'.repeat(70 * 1024) });
    const response = await scim.call('POST', '/Users', huge);
    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({ status: '413' });
  });

  it('returns 404 for an unknown user id, as a SCIM error', async () => {
    const response = await scim.get('/Users/00000000-0000-4000-8000-000000000000');
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '404' });
  });
});
