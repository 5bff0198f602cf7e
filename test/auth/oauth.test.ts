// OAuth 2.0 client credentials (RFC 6749 §4.4) for SCIM clients: a client gets a short-lived JWT
// access token (RFC 9068), provisions with it, and is refused once its secret is revoked or the
// token has expired. Token endpoint errors are RFC 6749 §5.2 bodies.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessTokenService } from '../../src/auth/access-tokens.js';
import { addClientSecret, createOAuthClient, revokeClientSecret, revokeOAuthClient } from '../../src/auth/oauth-clients.js';
import { CORE_USER, PATCH_OP, scimClient } from '../support/scim-client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

let clock = Date.parse('2026-12-01T12:00:00Z');
let jml: ScimApp;
let database: TestDatabase;

beforeAll(async () => {
  // One database for the app and the service whose clock the test moves.
  jml = await startScimApp({});
  database = jml.database;
});

afterAll(async () => {
  await jml.close();
});

function basic(clientId: string, secret: string) {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function tokenRequest(form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${jml.baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

async function accessToken(clientId: string, secret: string): Promise<string> {
  const response = await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(clientId, secret) });
  expect(response.status).toBe(200);
  return response.body.access_token as string;
}

const scimWith = (token: string) => scimClient(`${jml.baseUrl}/scim/v2`, token);

describe('the token endpoint', () => {
  it('issues a JWT access token (RFC 9068) to a client authenticating with HTTP Basic, and it provisions over SCIM', async () => {
    const client = await createOAuthClient(database.db, { name: 'entra-gallery', profile: 'entra', actor: 'alice' });
    const response = await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(client.clientId, client.secret) });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'scim' });
    const token = response.body.access_token as string;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: 'jml', aud: 'jml-scim', sub: client.clientId, client_id: client.clientId, jml_profile: 'entra' });
    expect(claims.exp! - claims.iat!).toBe(3600);
    expect(typeof claims.jti).toBe('string');
    expect(JSON.stringify(claims)).not.toContain(client.secret);

    const scim = scimWith(token);
    const user = await scim.post('/Users', { schemas: [CORE_USER], userName: 'oauth.person@example.com', active: true });
    expect(user.status).toBe(201);
    // The token carries the client's profile: Entra's group PATCH is answered 204.
    const group = await scim.post('/Groups', { schemas: [GROUP], displayName: 'OAuth group' });
    const patched = await scim.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: user.body.id }] }] });
    expect(patched.status).toBe(204);
    const [audit] = await database.query<{ actor: string }>("SELECT actor FROM audit_event WHERE action = 'scim.user.created' ORDER BY id DESC LIMIT 1");
    expect(audit!.actor).toBe('entra-gallery');
    const [secretRow] = await database.query<{ secret_hash: string }>('SELECT secret_hash FROM oauth_client_secret WHERE id = $1', [client.secretId]);
    expect(secretRow!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(secretRow!.secret_hash).not.toContain(client.secret);
  });

  it('accepts the credentials in the form body too', async () => {
    const client = await createOAuthClient(database.db, { name: 'form-client' });
    const response = await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret, scope: 'scim' });
    expect(response.status).toBe(200);
    expect((await scimWith(response.body.access_token as string).get('/Users?count=1')).status).toBe(200);
  });

  it('answers mistakes with RFC 6749 §5.2 errors', async () => {
    const client = await createOAuthClient(database.db, { name: 'mistakes' });
    const auth = { authorization: basic(client.clientId, client.secret) };
    const cases: [Record<string, string>, Record<string, string>, number, string][] = [
      [{}, auth, 400, 'invalid_request'],
      [{ grant_type: 'password', username: 'a', password: 'b' }, auth, 400, 'unsupported_grant_type'],
      [{ grant_type: 'client_credentials', scope: 'scim admin' }, auth, 400, 'invalid_scope'],
      [{ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret }, auth, 400, 'invalid_request'],
      [{ grant_type: 'client_credentials' }, { authorization: 'Bearer abc' }, 400, 'invalid_request'],
      [{ grant_type: 'client_credentials' }, {}, 401, 'invalid_client'],
      [{ grant_type: 'client_credentials' }, { authorization: basic(client.clientId, 'jml_secret_wrong') }, 401, 'invalid_client'],
      [{ grant_type: 'client_credentials' }, { authorization: basic('jml_client_other', client.secret) }, 401, 'invalid_client'],
    ];
    for (const [form, headers, status, error] of cases) {
      const response = await tokenRequest(form, headers);
      expect({ form, status: response.status, error: response.body.error }).toEqual({ form, status, error });
      expect(typeof response.body.error_description).toBe('string');
      expect(response.headers.get('cache-control')).toBe('no-store');
    }
    const wrong = await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(client.clientId, 'jml_secret_wrong') });
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="jml-oauth"');
    await jml.authFailures.flush();
    const failures = await database.query<{ data: { realm: string; count: number } }>("SELECT data FROM audit_event WHERE action = 'auth.failed' AND data->>'realm' = 'oauth'");
    // One row for the window and the address, counting every refusal.
    expect(failures.map((row) => row.data.count)).toEqual([expect.any(Number)]);
    expect(failures[0]!.data.count).toBeGreaterThanOrEqual(3);
  });
});

describe('rotation and revocation', () => {
  it('several secrets work at once; revoking one ends its tokens at once and leaves the other', async () => {
    const client = await createOAuthClient(database.db, { name: 'rotating', profile: 'okta' });
    const second = await addClientSecret(database.db, 'rotating', 'alice');
    expect(second).not.toBeNull();
    const oldToken = await accessToken(client.clientId, client.secret);
    const newToken = await accessToken(client.clientId, second!.secret);
    expect((await scimWith(oldToken).get('/Users?count=1')).status).toBe(200);
    expect(await revokeClientSecret(database.db, client.secretId, 'alice')).toBe(1);
    const refused = await scimWith(oldToken).get('/Users?count=1');
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    expect((await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(client.clientId, client.secret) })).status).toBe(401);
    expect((await scimWith(newToken).get('/Users?count=1')).status).toBe(200);
    expect(await revokeOAuthClient(database.db, client.clientId, 'alice')).toBe(1);
    expect((await scimWith(newToken).get('/Users?count=1')).status).toBe(401);
  });

  it('a token is refused once it has expired, and a forged or tampered one never works', async () => {
    const timed = createAccessTokenService({ db: database.db, ttlSeconds: 60, now: () => new Date(clock) });
    const client = await createOAuthClient(database.db, { name: 'expiring' });
    const authenticated = { id: client.client.id, clientId: client.clientId, name: 'expiring', profile: 'generic' as const, secretId: client.secretId };
    const issued = await timed.issue(authenticated);
    expect(await timed.verify(issued.accessToken)).toMatchObject({ name: 'expiring', kind: 'scim', profile: 'generic' });
    clock += 61_000;
    expect(await timed.verify(issued.accessToken)).toBeNull();
    // The app's own service (real clock) shares the key, so a fresh token works over HTTP...
    const fresh = await accessToken(client.clientId, client.secret);
    expect((await scimWith(fresh).get('/Users?count=1')).status).toBe(200);
    // ...and an expired one does not.
    const expired = createAccessTokenService({ db: database.db, ttlSeconds: 1, now: () => new Date(Date.now() - 3_600_000) });
    expect((await scimWith((await expired.issue(authenticated)).accessToken).get('/Users?count=1')).status).toBe(401);
    const [header, payload, signature] = fresh.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = Buffer.from(JSON.stringify({ ...claims, jml_profile: 'entra', client_id: 'jml_client_other' })).toString('base64url');
    expect((await scimWith(`${header}.${tampered}.${signature}`).get('/Users?count=1')).status).toBe(401);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.x`;
    expect((await scimWith(none).get('/Users?count=1')).status).toBe(401);
  });

  it('static bearer tokens keep working beside OAuth', async () => {
    expect((await jml.scim.get('/Users?count=1')).status).toBe(200);
  });
});

it('two services over one database share the signing key (API replicas)', async () => {
  const other = await createTestDatabase();
  try {
    const [first, second] = [createAccessTokenService({ db: other.db }), createAccessTokenService({ db: other.db })];
    const client = await createOAuthClient(other.db, { name: 'replicas' });
    const issued = await first.issue({ id: client.client.id, clientId: client.clientId, name: 'replicas', profile: 'generic', secretId: client.secretId });
    expect(await second.verify(issued.accessToken)).toMatchObject({ name: 'replicas' });
  } finally {
    await other.drop();
  }
});
