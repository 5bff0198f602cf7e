// The HTTP server's front door (src/app.ts): an address past its failure budget is answered 429
// before express sees the request, with the body each surface promises, while a client whose
// token verified keeps going from the same address, and every refusal is still tallied.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, frontDoor } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { createLifecycleMetrics } from '../../src/metrics/lifecycle-metrics.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { scimOptions } from '../support/scim-app.js';

let database: TestDatabase;
const servers: Server[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  await database.drop();
});

/** jml's app behind its front door, as startSystem serves it, with a budget of `burst` failures. */
async function serve(options: { burst: number; trustProxy?: string[] }) {
  const { db } = database;
  const verifyToken = createTokenVerifier({ db });
  const authFailures = new AuthFailureGuard({ db, logger, burst: options.burst, perSecond: 0.001 });
  const app = createApp({
    db,
    trustProxy: options.trustProxy,
    scim: scimOptions(db, { verifyToken, authFailures }),
    operator: { db, verifyToken, authFailures, logger, onOutboxWritten: () => {} },
    metrics: { metrics: createLifecycleMetrics({ db, systems: ['rocketchat'], slaMs: 60_000 }), verifyToken, authFailures, logger },
  });
  const server = createServer(frontDoor(app, { authFailures }));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, authFailures };
}

const bearer = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } });
const WRONG = `jml_scim_${'x'.repeat(43)}`;

interface FailedRow {
  data: { realm: string; ip: string; count: number; throttled: number; reasons: Record<string, number>; paths: Record<string, number> };
}

describe('the front door', () => {
  it('answers a spent address 429 with Retry-After and the RFC 7644 body, before express, and tallies it', async () => {
    const { baseUrl, authFailures } = await serve({ burst: 2 });
    const { token } = await createToken(database.db, { name: 'front-door-idp', kind: 'scim' });
    // The budget is spent by two refusals that express answers (401, with its request id).
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = await fetch(`${baseUrl}/scim/v2/Users`, bearer(WRONG));
      expect(refused.status).toBe(401);
      expect(refused.headers.get('x-request-id')).toBeTruthy();
    }
    const throttled = await fetch(`${baseUrl}/scim/v2/Users?filter=userName%20eq%20%22ada%40example.com%22`, bearer(WRONG));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('content-type')).toBe('application/scim+json; charset=utf-8');
    const retryAfter = throttled.headers.get('retry-after');
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // No request id: express, which gives every response one, never saw this request.
    expect(throttled.headers.get('x-request-id')).toBeNull();
    expect(await throttled.json()).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      status: '429',
      detail: `Too many failed authentications from this address: retry after ${retryAfter} s`,
    });
    // A POST's body is never read: the answer comes as soon as the headers are in.
    const posted = await fetch(`${baseUrl}/SCIM/V2/Users`, { method: 'POST', ...bearer(WRONG, { 'content-type': 'application/scim+json' }), body: JSON.stringify({ userName: 'x' }) });
    expect(posted.status).toBe(429);

    // The real client behind the same address: its token verifies, so it is let through.
    const trustedBefore = await fetch(`${baseUrl}/scim/v2/Users`, bearer(token));
    expect(trustedBefore.status).toBe(429);
    // (It never verified from here yet; once it has, from anywhere, it passes a spent budget.)
    authFailures.succeeded(token);
    expect((await fetch(`${baseUrl}/scim/v2/Users`, bearer(token))).status).toBe(200);

    const before = await database.query<FailedRow>(`SELECT data FROM audit_event WHERE action = 'auth.failed'`);
    await authFailures.flush();
    const written = (await database.query<FailedRow>(`SELECT data FROM audit_event WHERE action = 'auth.failed' ORDER BY id`)).slice(before.length);
    expect(written).toHaveLength(1);
    const { data } = written[0]!;
    expect([data.realm, data.ip, data.count, data.throttled]).toEqual(['scim', '127.0.0.1', 5, 3]);
    expect(data.reasons).toEqual({ 'unknown, expired or revoked token': 2, 'too many failures from this address': 3 });
    // Never the query string: SCIM filters carry email addresses.
    expect(data.paths).toEqual({ 'GET /scim/v2/Users': 4, 'POST /SCIM/V2/Users': 1 });
  });

  it('answers the operator API and /metrics in their own shapes, and leaves health to express', async () => {
    const { baseUrl } = await serve({ burst: 1 });
    expect((await fetch(`${baseUrl}/api/events`, bearer('wrong'))).status).toBe(401);
    const api = await fetch(`${baseUrl}/api/events`, bearer('wrong'));
    expect(api.status).toBe(429);
    expect(api.headers.get('x-request-id')).toBeNull();
    expect(await api.json()).toEqual({ error: 'TooManyRequests', detail: expect.stringContaining('Too many failed authentications') as unknown });
    const metrics = await fetch(`${baseUrl}/metrics`);
    expect(metrics.status).toBe(429);
    expect(metrics.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await metrics.text()).toMatch(/^Too many failed authentications from this address: retry after \d+ s\n$/);
    expect((await fetch(`${baseUrl}/health`)).status).toBe(200);
  });

  it('without JML_TRUST_PROXY keeps the budget of the socket peer, whatever X-Forwarded-For says', async () => {
    const { baseUrl } = await serve({ burst: 1 });
    const from = (client: string) => ({ 'x-forwarded-for': client });
    expect((await fetch(`${baseUrl}/scim/v2/Users`, bearer(WRONG, from('203.0.113.10')))).status).toBe(401);
    // A forged header must not buy a fresh budget.
    expect((await fetch(`${baseUrl}/scim/v2/Users`, bearer(WRONG, from('203.0.113.11')))).status).toBe(429);
  });

  it('keeps the budget of the address JML_TRUST_PROXY gives, as express would', async () => {
    const { baseUrl } = await serve({ burst: 1, trustProxy: ['loopback'] });
    const from = (client: string) => ({ 'x-forwarded-for': client });
    expect((await fetch(`${baseUrl}/scim/v2/Users`, bearer(WRONG, from('203.0.113.10')))).status).toBe(401);
    expect((await fetch(`${baseUrl}/scim/v2/Users`, bearer(WRONG, from('203.0.113.10')))).status).toBe(429);
    // Another client behind the same proxy has a budget of its own.
    expect((await fetch(`${baseUrl}/scim/v2/Users`, bearer(WRONG, from('203.0.113.11')))).status).toBe(401);
  });
});
