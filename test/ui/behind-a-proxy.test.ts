// Behind a proxy (issue 15): the pages' cookie is Secure when the request reached the proxy over
// https, but only a trusted proxy (JML_TRUST_PROXY) can say so; a form post must come from
// PUBLIC_URL's origin, not from whatever Host header jml sees; and the session store is bounded
// and forgets expired sessions.
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { SessionStore } from '../../src/ui/sessions.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen, scimOptions } from '../support/scim-app.js';

const PUBLIC_URL = 'https://jml.example.com';
let database: TestDatabase;
let token: string;
const servers: Server[] = [];

/** jml's pages behind PUBLIC_URL, trusting the loopback proxy or nobody. */
async function serve(trustProxy: string[] | false): Promise<string> {
  const { db } = database;
  const verifyToken = createTokenVerifier({ db });
  const authFailures = new AuthFailureGuard({ db, logger });
  const app = createApp({ db, trustProxy, scim: scimOptions(db, { verifyToken, authFailures }), ui: { db, verifyToken, authFailures, logger, onOutboxWritten: () => {}, publicUrl: PUBLIC_URL } });
  const { server, baseUrl } = await listen(app);
  servers.push(server);
  return baseUrl;
}

beforeAll(async () => {
  database = await createTestDatabase();
  token = (await createToken(database.db, { name: 'proxy-operator', kind: 'operator' })).token;
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await database.drop();
});

const logIn = (baseUrl: string, headers: Record<string, string>) =>
  fetch(`${baseUrl}/ui/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ token }) });

describe('the pages behind a proxy', () => {
  it('marks the session cookie Secure when a trusted proxy says the request came over https', async () => {
    const baseUrl = await serve(['loopback']);
    const response = await logIn(baseUrl, { origin: PUBLIC_URL, 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' });
    expect(response.status).toBe(303);
    expect(response.headers.getSetCookie()[0]).toMatch(/; Secure$/);
  });

  it('believes no X-Forwarded-Proto from a proxy it does not trust', async () => {
    const baseUrl = await serve(false);
    const response = await logIn(baseUrl, { origin: PUBLIC_URL, 'x-forwarded-proto': 'https' });
    expect(response.status).toBe(303);
    expect(response.headers.getSetCookie()[0]).not.toContain('Secure');
  });

  it("refuses a post whose Origin is the Host jml sees but not PUBLIC_URL's", async () => {
    const baseUrl = await serve(['loopback']);
    const response = await logIn(baseUrl, { origin: baseUrl });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('Origin check');
    expect(response.headers.getSetCookie()).toEqual([]);
  });
});

describe('the session store', () => {
  it('holds at most its bound, logging out the least recently used, and forgets an expired session', () => {
    let now = 1_000_000;
    const store = new SessionStore(60_000, () => now, 2);
    const principal = { tokenId: 't', name: 'alice', kind: 'operator' as const };
    const first = store.create(principal);
    const second = store.create(principal);
    expect(store.get(first.id)).toBeDefined();
    const third = store.create(principal);
    expect(store.size).toBe(2);
    // The first was used last of the older two, so the second was the one logged out.
    expect(store.get(second.id)).toBeUndefined();
    expect(store.get(first.id)).toBeDefined();
    now += 60_000;
    expect(store.get(third.id)).toBeUndefined();
    expect(store.get(first.id)).toBeUndefined();
  });
});
