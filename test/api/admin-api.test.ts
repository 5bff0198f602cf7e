// An admin's tokens and settings over the operator API and the pages (src/auth/administration.ts):
// a token's secret is answered once and stored only as its hash, listings never carry a secret or
// a hash, a revoked token stops working, the settings hide every secret, and each action is an
// audit row naming the admin.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier, hashSecret } from '../../src/auth/tokens.js';
import { parseEnvironment, publicSettings } from '../../src/config.js';
import { logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen, scimOptions } from '../support/scim-app.js';
import { operatorClient } from '../ui/operator-http.js';

const SECRET = 'trust-admin-test-secret-0123456789abcdef0123456789';
let database: TestDatabase;
let baseUrl: string;
let close: () => Promise<void>;
const tokens: Record<string, string> = {};
const client = operatorClient(() => baseUrl, tokens);

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const verifyToken = createTokenVerifier({ db });
  const authFailures = new AuthFailureGuard({ db, logger });
  const settings = publicSettings(parseEnvironment({ JML_METRICS_TOKEN: SECRET, DATABASE_URL: `postgresql://app:${SECRET}@db.example/jml` }));
  const app = createApp({
    db,
    scim: scimOptions(db, { verifyToken, authFailures }),
    operator: { db, verifyToken, authFailures, logger, onOutboxWritten: () => {}, settings },
    ui: { db, verifyToken, authFailures, logger, onOutboxWritten: () => {}, settings },
  });
  const server = await listen(app);
  baseUrl = server.baseUrl;
  close = () => new Promise((resolve) => server.server.close(() => resolve()));
  tokens.root = (await createToken(db, { name: 'root-admin', kind: 'admin' })).token;
});

afterAll(async () => {
  await close();
  await database.drop();
});

const auditRows = (action: string) => database.query<{ actor: string; data: Record<string, unknown> }>('SELECT actor, data FROM audit_event WHERE action = $1 ORDER BY id', [action]);

describe('tokens over the API', () => {
  it('creates a token whose secret is answered once and stored only as its SHA-256, and which works at once', async () => {
    const created = await client.api('POST', '/tokens', 'root', { name: 'soc-auditor', role: 'auditor' });
    expect(created.status).toBe(201);
    const secret = created.body.token as string;
    expect(secret).toMatch(/^jml_aud_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ name: 'soc-auditor', kind: 'auditor', prefix: secret.slice(0, 14) });
    const [row] = await database.query<{ secret_hash: string; stored: string }>('SELECT secret_hash, row_to_json(api_token)::text AS stored FROM api_token WHERE id = $1', [created.body.id]);
    expect(row!.secret_hash).toBe(hashSecret(secret));
    expect(row!.stored).not.toContain(secret);

    tokens.auditor = secret;
    expect((await client.api('GET', '/audit', 'auditor')).status).toBe(200);
    expect(await auditRows('token.created')).toContainEqual(expect.objectContaining({ actor: 'root-admin', data: expect.objectContaining({ tokenId: created.body.id, kind: 'auditor' }) as unknown }));
  });

  it('lists tokens without a secret or a hash', async () => {
    const listed = await client.api('GET', '/tokens', 'root');
    expect(listed.status).toBe(200);
    const list = listed.body.tokens as Record<string, unknown>[];
    expect(list.map((token) => token.name)).toEqual(expect.arrayContaining(['root-admin', 'soc-auditor']));
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(tokens.auditor);
    expect(text).not.toContain(hashSecret(tokens.auditor!));
    expect(text).not.toContain('secretHash');
    expect(await auditRows('token.listed')).toContainEqual({ actor: 'root-admin', data: { count: list.length, role: 'admin' } });
  });

  it('revokes a token, which is refused from then on; a second revocation or an unknown id says so', async () => {
    const listed = (await client.api('GET', '/tokens', 'root')).body.tokens as { id: string; name: string }[];
    const auditor = listed.find((token) => token.name === 'soc-auditor')!;
    const revoked = await client.api('POST', `/tokens/${auditor.id}/revoke`, 'root');
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked).toMatchObject({ id: auditor.id, revokedAt: expect.any(String) as unknown });
    expect((await client.api('GET', '/audit', 'auditor')).status).toBe(401);
    expect(await client.api('POST', `/tokens/${auditor.id}/revoke`, 'root')).toMatchObject({ status: 409, body: { error: 'TokenAlreadyRevoked' } });
    expect(await client.api('POST', `/tokens/${randomUUID()}/revoke`, 'root')).toMatchObject({ status: 404, body: { error: 'TokenNotFound' } });
    expect(await auditRows('token.revoked')).toContainEqual({ actor: 'root-admin', data: { tokenId: auditor.id, name: 'soc-auditor', kind: 'auditor' } });
  });

  it('refuses a bad request with the field at fault', async () => {
    const unknownRole = await client.api('POST', '/tokens', 'root', { name: 'x', role: 'superuser' });
    expect(unknownRole).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } });
    expect(unknownRole.body.errors).toContainEqual(expect.objectContaining({ field: 'role' }));
    const profileForOperator = await client.api('POST', '/tokens', 'root', { name: 'x', role: 'operator', profile: 'okta' });
    expect(profileForOperator.body.errors).toContainEqual({ field: 'profile', message: 'is for scim tokens only' });
    expect((await client.api('POST', '/tokens/not-a-uuid/revoke', 'root')).status).toBe(400);
  });
});

describe('settings over the API', () => {
  it('answers the effective settings with every secret reduced to "set", and records who read them', async () => {
    const read = await client.api('GET', '/settings', 'root');
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(SECRET);
    expect(read.body.settings).toMatchObject({ JML_METRICS_TOKEN: { secret: true, set: true }, JML_APPROVALS_REQUIRED: 1, DATABASE_URL: 'postgresql://redacted:redacted@db.example/jml' });
    expect(await auditRows('settings.read')).toContainEqual({ actor: 'root-admin', data: { role: 'admin' } });
  });
});

describe('tokens on the pages', () => {
  const post = (cookie: string, path: string, form: Record<string, string>) =>
    fetch(`${baseUrl}/ui${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, origin: baseUrl, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });

  it('lets an admin create a token (shown once, not kept), see it listed, and revoke it', async () => {
    const cookie = await client.logIn('root');
    const home = await fetch(`${baseUrl}/ui/`, { redirect: 'manual', headers: { cookie } });
    expect(home.headers.get('location')).toBe('/ui/admin');

    const created = await post(cookie, '/admin/tokens', { name: 'okta-prod', role: 'scim', profile: 'okta' });
    expect(created.status).toBe(201);
    const html = await created.text();
    const secret = /<code class="secret">(jml_scim_[A-Za-z0-9_-]{43})<\/code>/.exec(html)?.[1];
    expect(secret).toBeDefined();
    const [row] = await database.query<{ id: string; secret_hash: string; profile: string }>("SELECT id, secret_hash, profile FROM api_token WHERE name = 'okta-prod'");
    expect(row).toMatchObject({ secret_hash: hashSecret(secret!), profile: 'okta' });

    // The next page lists it by prefix and no longer shows the secret.
    const page = await (await fetch(`${baseUrl}/ui/admin`, { headers: { cookie } })).text();
    expect(page).toContain(`data-token="${row!.id}"`);
    expect(page).not.toContain(secret!);
    expect(page).not.toContain(SECRET);

    const revoked = await post(cookie, `/admin/tokens/${row!.id}/revoke`, {});
    expect(revoked.status).toBe(303);
    const after = await (await fetch(`${baseUrl}/ui/admin`, { headers: { cookie } })).text();
    expect(after).toContain('Revoked the scim token &quot;okta-prod&quot;');
    expect((await fetch(`${baseUrl}/scim/v2/Users`, { headers: { authorization: `Bearer ${secret!}` } })).status).toBe(401);
    expect(await auditRows('token.revoked')).toContainEqual({ actor: 'root-admin', data: { tokenId: row!.id, name: 'okta-prod', kind: 'scim' } });
  });

  it('says what is wrong with an invalid form and creates nothing', async () => {
    const cookie = await client.logIn('root');
    const refused = await post(cookie, '/admin/tokens', { name: '', role: 'scim' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Invalid token: name');
  });
});
