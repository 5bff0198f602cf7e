// Each token kind is a role (src/auth/roles.ts): every role is refused, with 403 and a body that
// says what it would need, everything outside its set, on SCIM, the operator API, /metrics and the
// pages. A role's pages offer only what it may do.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier, type TokenKind } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { createLifecycleMetrics } from '../../src/metrics/lifecycle-metrics.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen, scimOptions } from '../support/scim-app.js';

let database: TestDatabase;
let baseUrl: string;
let close: () => Promise<void>;
const tokens = {} as Record<TokenKind, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const verifyToken = createTokenVerifier({ db });
  const authFailures = new AuthFailureGuard({ db, logger });
  const app = createApp({
    db,
    scim: scimOptions(db, { verifyToken, authFailures }),
    operator: { db, verifyToken, authFailures, logger, onOutboxWritten: () => {} },
    metrics: { metrics: createLifecycleMetrics({ db, systems: ['rocketchat'], slaMs: 60_000 }), verifyToken, authFailures, logger },
    ui: { db, verifyToken, authFailures, logger, onOutboxWritten: () => {} },
  });
  const server = await listen(app);
  baseUrl = server.baseUrl;
  close = () => new Promise((resolve) => server.server.close(() => resolve()));
  for (const kind of ['scim', 'auditor', 'operator', 'admin', 'hr'] as const) tokens[kind] = (await createToken(db, { name: `${kind}-1`, kind })).token;
});

afterAll(async () => {
  await close();
  await database.drop();
});

const someEvent = randomUUID();
const REQUESTS = {
  'SCIM list users': ['GET', '/scim/v2/Users'],
  'list events': ['GET', '/api/events'],
  'approve an event': ['POST', `/api/events/${someEvent}/approve`],
  'approve all held': ['POST', '/api/held/approve'],
  'read the audit trail': ['GET', '/api/audit'],
  'read evidence': ['GET', '/api/evidence/nobody'],
  'read the report': ['GET', '/api/reports/deprovisioning?format=json'],
  metrics: ['GET', '/metrics'],
} as const;
type RequestName = keyof typeof REQUESTS;

/** What each role may do; everything else must be 403. */
const ALLOWED: Record<TokenKind, RequestName[]> = {
  scim: ['SCIM list users'],
  auditor: ['read the audit trail', 'read evidence', 'read the report', 'metrics'],
  operator: ['list events', 'approve an event', 'approve all held', 'read the audit trail', 'read evidence', 'read the report', 'metrics'],
  admin: [],
  // Its one permission is the HR webhook's (test/hr/webhook.e2e.test.ts).
  hr: [],
};

describe('roles over HTTP', () => {
  for (const kind of Object.keys(ALLOWED) as TokenKind[]) {
    it(`refuses a ${kind} token everything outside its set with 403 and says what it needs`, async () => {
      for (const [name, [method, path]] of Object.entries(REQUESTS) as [RequestName, (typeof REQUESTS)[RequestName]][]) {
        const response = await fetch(`${baseUrl}${path}`, {
          method,
          headers: { authorization: `Bearer ${tokens[kind]}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          body: method === 'POST' ? '{}' : undefined,
        });
        const text = await response.text();
        if (ALLOWED[kind].includes(name)) {
          // Allowed: whatever the route answers (404 for an event that does not exist), never 401/403.
          expect({ kind, name, refused: response.status === 401 || response.status === 403 }).toEqual({ kind, name, refused: false });
        } else {
          expect({ kind, name, status: response.status }).toEqual({ kind, name, status: 403 });
          expect(text).toMatch(new RegExp(`The ${kind} token \\\\?"${kind}-1\\\\?" may not`));
          expect(text).toMatch(/needs a token of kind/);
        }
      }
    });
  }

  it('answers a SCIM refusal with an RFC 7644 error body', async () => {
    const response = await fetch(`${baseUrl}/scim/v2/Users`, { headers: { authorization: `Bearer ${tokens.operator}` } });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '403' });
  });
});

describe('roles on the pages', () => {
  async function logIn(kind: TokenKind): Promise<{ status: number; cookie?: string; text: string }> {
    const response = await fetch(`${baseUrl}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: baseUrl },
      body: new URLSearchParams({ token: tokens[kind] }),
    });
    return { status: response.status, cookie: response.headers.getSetCookie()[0]?.split(';')[0], text: await response.text() };
  }
  const page = (cookie: string, path: string, method = 'GET') =>
    fetch(`${baseUrl}${path}`, { method, redirect: 'manual', headers: { cookie, origin: baseUrl, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }, body: method === 'POST' ? '' : undefined });

  it('lets no SCIM, admin or hr token log in, with 403 saying why', async () => {
    for (const kind of ['scim', 'admin', 'hr'] as const) {
      const refused = await logIn(kind);
      expect(refused.status).toBe(403);
      expect(refused.cookie).toBeUndefined();
      expect(refused.text).toContain(`The ${kind} token`);
    }
  });

  it('shows an auditor the record only: no Leavers page, no buttons, every action 403', async () => {
    const { status, cookie } = await logIn('auditor');
    expect(status).toBe(303);
    const home = await page(cookie!, '/ui/');
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/ui/report');
    const report = await page(cookie!, '/ui/report');
    expect(report.status).toBe(200);
    const html = await report.text();
    expect(html).toContain('href="/ui/evidence"');
    expect(html).not.toContain('href="/ui/">Leavers');
    for (const action of ['/ui/held/approve', `/ui/events/${someEvent}/approve`, `/ui/events/${someEvent}/retry`]) {
      const refused = await page(cookie!, action, 'POST');
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('may not approve, reject and retry lifecycle events');
    }
  });

  it('shows an operator the leavers with their actions', async () => {
    const { status, cookie } = await logIn('operator');
    expect(status).toBe(303);
    const home = await page(cookie!, '/ui/');
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('href="/ui/">Leavers');
  });
});
