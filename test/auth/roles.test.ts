// Each token kind is a role (src/auth/roles.ts, decision 024): every role is refused, with 403 and a
// body that says what it would need, everything outside its set, on SCIM, the operator API,
// /metrics and the pages. The walk below covers every route the operator API and the pages serve:
// its tables are compared with the routers' own lists of routes (test/support/routes.ts), so a
// route added without an entry here fails this file. A role's pages offer only what it may do.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperatorRouter, type OperatorApiOptions } from '../../src/api/router.js';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { ROLE_PERMISSIONS, TOKEN_KINDS, type Permission } from '../../src/auth/roles.js';
import { createToken, createTokenVerifier, type TokenKind } from '../../src/auth/tokens.js';
import { parseEnvironment, publicSettings } from '../../src/config.js';
import { logger } from '../../src/logger.js';
import { createLifecycleMetrics } from '../../src/metrics/lifecycle-metrics.js';
import { createUiRouter, type UiOptions } from '../../src/ui/router.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { routesOf } from '../support/routes.js';
import { listen, scimOptions } from '../support/scim-app.js';

let database: TestDatabase;
let baseUrl: string;
let close: () => Promise<void>;
let operatorOptions: OperatorApiOptions;
let uiOptions: UiOptions;
const tokens = {} as Record<TokenKind, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const verifyToken = createTokenVerifier({ db });
  const authFailures = new AuthFailureGuard({ db, logger });
  const scim = scimOptions(db, { verifyToken, authFailures });
  // Every optional surface on, so that every route exists to be walked.
  const intake = { db, lifecycle: scim.lifecycle, onOutboxWritten: () => {} };
  const reconcile = { systems: ['rocketchat' as const], queuePrefix: 'test' };
  const settings = publicSettings(parseEnvironment({}));
  operatorOptions = { db, verifyToken, authFailures, logger, onOutboxWritten: () => {}, intake, reconcile, settings };
  uiOptions = { db, verifyToken, authFailures, logger, onOutboxWritten: () => {}, intake, reconcile, settings };
  const app = createApp({
    db,
    scim,
    operator: operatorOptions,
    metrics: { metrics: createLifecycleMetrics({ db, systems: ['rocketchat'], slaMs: 60_000 }), verifyToken, authFailures, logger },
    ui: uiOptions,
  });
  const server = await listen(app);
  baseUrl = server.baseUrl;
  close = () => new Promise((resolve) => server.server.close(() => resolve()));
  for (const kind of TOKEN_KINDS) tokens[kind] = (await createToken(db, { name: `${kind}-1`, kind })).token;
});

afterAll(async () => {
  await close();
  await database.drop();
});

/** Decision 024's table, written out again: the walk checks the routes against it, not against itself. */
const EXPECTED_PERMISSIONS: Record<TokenKind, Permission[]> = {
  scim: ['provision'],
  auditor: ['readAudit', 'readMetrics'],
  operator: ['readEvents', 'actOnEvents', 'changePeople', 'readAudit', 'readMetrics'],
  admin: ['manageTokens', 'manageSettings'],
  hr: ['postHrEvents'],
};

const rolesWith = (permission: Permission) => TOKEN_KINDS.filter((kind) => EXPECTED_PERMISSIONS[kind].includes(permission));

const id = randomUUID();
const workflowId = `idle-sweep-${id}`;

interface Walked {
  /** The router's pattern ("POST /events/:id/approve"), or a SCIM/metrics request. */
  route: string;
  /** The concrete path requested under the surface's mount point. */
  path: string;
  permission: Permission;
}

const walk = (route: string, path: string, permission: Permission): Walked => ({ route, path, permission });

/** Every operator API route (mounted at /api). */
const API: Walked[] = [
  walk('POST /hr/import', '/hr/import', 'changePeople'),
  walk('GET /events', '/events', 'readEvents'),
  walk('GET /events/:id', `/events/${id}`, 'readEvents'),
  walk('POST /events/:id/approve', `/events/${id}/approve`, 'actOnEvents'),
  walk('POST /events/:id/reject', `/events/${id}/reject`, 'actOnEvents'),
  walk('POST /events/:id/retry', `/events/${id}/retry`, 'actOnEvents'),
  walk('POST /held/approve', '/held/approve', 'actOnEvents'),
  walk('POST /identities/:id/terminate', `/identities/${id}/terminate`, 'changePeople'),
  walk('POST /reconcile', '/reconcile', 'actOnEvents'),
  walk('GET /reconcile/runs', '/reconcile/runs', 'readAudit'),
  walk('GET /reconcile/runs/:id/findings', `/reconcile/runs/${id}/findings`, 'readAudit'),
  walk('POST /reconcile/findings/:id/ignore', '/reconcile/findings/1/ignore', 'actOnEvents'),
  walk('POST /reconcile/findings/:id/remediate', '/reconcile/findings/1/remediate', 'actOnEvents'),
  walk('GET /idle-sweeps', '/idle-sweeps', 'readEvents'),
  walk('POST /idle-sweeps/:workflowId/approve', `/idle-sweeps/${workflowId}/approve`, 'actOnEvents'),
  walk('POST /idle-sweeps/:workflowId/reject', `/idle-sweeps/${workflowId}/reject`, 'actOnEvents'),
  walk('GET /tokens', '/tokens', 'manageTokens'),
  walk('POST /tokens', '/tokens', 'manageTokens'),
  walk('POST /tokens/:id/revoke', `/tokens/${id}/revoke`, 'manageTokens'),
  walk('GET /settings', '/settings', 'manageSettings'),
  walk('GET /reports/deprovisioning', '/reports/deprovisioning?format=json', 'readAudit'),
  walk('GET /audit', '/audit', 'readAudit'),
  walk('GET /evidence/:subject', '/evidence/nobody', 'readAudit'),
  walk('GET /evidence/:subject/bundle', '/evidence/nobody/bundle', 'readAudit'),
];

/**
 * SCIM (one authorisation step before every route, src/scim/router.ts; scimmy serves the routes
 * behind it) and /metrics: a request per resource and method.
 */
const OTHER: Walked[] = [
  ...['GET /Users', 'POST /Users', 'POST /Users/.search', `GET /Users/${id}`, `PUT /Users/${id}`, `PATCH /Users/${id}`, `DELETE /Users/${id}`, 'GET /Groups', 'POST /Groups', `PATCH /Groups/${id}`, 'POST /Bulk', 'POST /.search', 'GET /ServiceProviderConfig', 'GET /Schemas', 'GET /ResourceTypes', 'GET /Me'].map((request) => {
    const [method, path] = request.split(' ');
    return walk(`${method} /scim/v2${path}`, `/scim/v2${path}`, 'provision');
  }),
  walk('GET /metrics', '/metrics', 'readMetrics'),
];

/** Every page and form action (mounted at /ui) that needs a session. */
const UI: Walked[] = [
  walk('GET /', '/', 'readEvents'),
  walk('GET /report', '/report', 'readAudit'),
  walk('GET /report.csv', '/report.csv', 'readAudit'),
  walk('GET /evidence', '/evidence', 'readAudit'),
  walk('GET /evidence/bundle', '/evidence/bundle?subject=nobody', 'readAudit'),
  walk('POST /events/:id/retry', `/events/${id}/retry`, 'actOnEvents'),
  walk('POST /events/:id/approve', `/events/${id}/approve`, 'actOnEvents'),
  walk('POST /events/:id/reject', `/events/${id}/reject`, 'actOnEvents'),
  walk('POST /held/approve', '/held/approve', 'actOnEvents'),
  walk('POST /idle-sweeps/:workflowId/approve', `/idle-sweeps/${workflowId}/approve`, 'actOnEvents'),
  walk('POST /idle-sweeps/:workflowId/reject', `/idle-sweeps/${workflowId}/reject`, 'actOnEvents'),
  walk('POST /reconcile', '/reconcile', 'actOnEvents'),
  walk('POST /reconcile/findings/:id/ignore', '/reconcile/findings/1/ignore', 'actOnEvents'),
  walk('POST /reconcile/findings/:id/remediate', '/reconcile/findings/1/remediate', 'actOnEvents'),
  walk('GET /reconcile', '/reconcile', 'readAudit'),
  walk('GET /reconcile/runs/:id', `/reconcile/runs/${id}`, 'readAudit'),
  walk('POST /identities/:id/terminate', `/identities/${id}/terminate`, 'changePeople'),
  walk('GET /hr', '/hr', 'changePeople'),
  walk('POST /hr/import', '/hr/import', 'changePeople'),
  walk('GET /admin', '/admin', 'manageTokens'),
  walk('POST /admin/tokens', '/admin/tokens', 'manageTokens'),
  walk('POST /admin/tokens/:id/revoke', `/admin/tokens/${id}/revoke`, 'manageTokens'),
];
/** The pages' routes that need no session, or any session: not a role's to refuse. */
const UI_WITHOUT_ROLE = ['GET /ui.css', 'GET /favicon.svg', 'GET /login', 'POST /login', 'POST /logout'];

const methodOf = (entry: Walked) => entry.route.split(' ')[0]!;
/** A 403 body names the token, what it may not do, and the role that may. */
const refusal = (kind: TokenKind) => new RegExp(`The ${kind} token (\\\\?"|&quot;)${kind}-1(\\\\?"|&quot;) may not .*needs a token of kind`);

describe('the walk covers every route', () => {
  it('has an entry for every operator API route and every page, and no entry for a route that does not exist', () => {
    expect(API.map((entry) => entry.route).sort()).toEqual(routesOf(createOperatorRouter(operatorOptions)).sort());
    expect([...UI.map((entry) => entry.route), ...UI_WITHOUT_ROLE].sort()).toEqual(routesOf(createUiRouter(uiOptions)).sort());
  });

  it('checks the roles against decision 024', () => {
    expect(ROLE_PERMISSIONS).toEqual(EXPECTED_PERMISSIONS);
  });
});

describe('roles over HTTP', () => {
  for (const kind of TOKEN_KINDS) {
    it(`refuses a ${kind} token every API, SCIM and metrics route outside its set with 403 and says what it needs`, async () => {
      const seen: { route: string; status: number }[] = [];
      for (const entry of [...API.map((api) => ({ ...api, path: `/api${api.path}` })), ...OTHER]) {
        const method = methodOf(entry);
        const response = await fetch(`${baseUrl}${entry.path}`, {
          method,
          headers: { authorization: `Bearer ${tokens[kind]}`, ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
          body: method === 'GET' ? undefined : '{}',
        });
        const text = await response.text();
        const allowed = rolesWith(entry.permission).includes(kind);
        seen.push({ route: entry.route, status: response.status });
        if (allowed) {
          // Allowed: whatever the route answers (404 for an event that does not exist, 400 for an empty body), never 401/403.
          expect({ kind, route: entry.route, refused: response.status === 401 || response.status === 403 }).toEqual({ kind, route: entry.route, refused: false });
        } else {
          expect({ kind, route: entry.route, status: response.status }).toEqual({ kind, route: entry.route, status: 403 });
          expect(text).toMatch(refusal(kind));
          // JSON everywhere but /metrics (Prometheus' plain text); SCIM's is the RFC 7644 error body.
          if (entry.route.startsWith('GET /metrics')) continue;
          const body = JSON.parse(text) as Record<string, unknown>;
          if (entry.path.startsWith('/scim/')) expect(body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '403' });
          else expect(body).toMatchObject({ error: 'Forbidden' });
        }
      }
      expect(seen.length).toBe(API.length + OTHER.length);
    });
  }
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
    fetch(`${baseUrl}/ui${path}`, { method, redirect: 'manual', headers: { cookie, origin: baseUrl, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }, body: method === 'POST' ? '' : undefined });
  /** Where a role without the overview's permission is sent instead of a 403: its own home. */
  const HOME: Partial<Record<TokenKind, string>> = { auditor: '/ui/report', admin: '/ui/admin' };

  it('lets no SCIM or hr token log in, with 403 saying why', async () => {
    for (const kind of ['scim', 'hr'] as const) {
      const refused = await logIn(kind);
      expect(refused.status).toBe(403);
      expect(refused.cookie).toBeUndefined();
      expect(refused.text).toContain(`The ${kind} token`);
    }
  });

  for (const kind of ['auditor', 'operator', 'admin'] as const) {
    it(`refuses ${kind === 'admin' ? 'an' : 'a'} ${kind} every page and action outside its set with 403 and says what it needs`, async () => {
      const { status, cookie } = await logIn(kind);
      expect(status).toBe(303);
      for (const entry of UI) {
        const response = await page(cookie!, entry.path, methodOf(entry));
        const text = await response.text();
        const allowed = rolesWith(entry.permission).includes(kind);
        // A redirect to the log-in page would mean the session was lost, not that the role was checked.
        expect({ kind, route: entry.route, location: response.headers.get('location') }).not.toEqual({ kind, route: entry.route, location: '/ui/login' });
        if (allowed) {
          expect({ kind, route: entry.route, refused: response.status === 401 || response.status === 403 }).toEqual({ kind, route: entry.route, refused: false });
        } else if (entry.route === 'GET /' && HOME[kind]) {
          expect({ kind, status: response.status, location: response.headers.get('location') }).toEqual({ kind, status: 303, location: HOME[kind] });
        } else {
          expect({ kind, route: entry.route, status: response.status }).toEqual({ kind, route: entry.route, status: 403 });
          expect(text).toMatch(refusal(kind));
        }
      }
    });
  }

  it('shows each role the navigation and buttons of its set only', async () => {
    const auditor = (await logIn('auditor')).cookie!;
    const report = await (await page(auditor, '/report')).text();
    expect(report).toContain('href="/ui/evidence"');
    expect(report).not.toContain('href="/ui/">Leavers');
    expect(report).not.toContain('href="/ui/admin"');
    expect(report).not.toContain('href="/ui/hr"');

    const operator = (await logIn('operator')).cookie!;
    const home = await page(operator, '/');
    expect(home.status).toBe(200);
    const overview = await home.text();
    expect(overview).toContain('href="/ui/">Leavers');
    expect(overview).toContain('Reconcile now');
    expect(overview).not.toContain('href="/ui/admin"');

    const admin = (await logIn('admin')).cookie!;
    const administration = await (await page(admin, '/admin')).text();
    expect(administration).toContain('href="/ui/admin"');
    expect(administration).toContain('Create token');
    expect(administration).toContain('id="settings-table"');
    for (const link of ['href="/ui/">Leavers', 'href="/ui/report"', 'href="/ui/evidence"', 'href="/ui/hr"', 'href="/ui/reconcile"']) expect(administration).not.toContain(link);
  });
});
