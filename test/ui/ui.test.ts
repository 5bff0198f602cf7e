// The operator pages against a whole jml (real PostgreSQL, real Temporal, simulated downstream
// systems), driven in a real headless Chromium through playwright-core, plus the checks a browser
// is not needed for: log-in, CSRF, escaping. The guard is out of the way (1000 leavers an hour).
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateChromium } from '../../scripts/chromium.js';
import { createToken } from '../../src/auth/tokens.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const SCREENSHOTS = 'test-results/ui';
const XSS_NAME = '<img src=x onerror=alert(1)>';

let jml: TestSystem;
let base: string;
let operatorToken: string;

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' } });
  base = jml.system.url!;
  operatorToken = (await createToken(jml.system.db, { name: 'grace', kind: 'operator' })).token;
});

afterAll(async () => {
  await jml?.close();
});

/** A person with an account in each simulator, provisioned over SCIM; then a leaver unless `active`. */
async function person(userName: string, options: { leave: boolean }): Promise<{ identityId: string; externalId: string }> {
  const externalId = `emp-${userName.replace(/[^a-z0-9]/gi, '')}`;
  const email = `${externalId}@example.com`;
  jml.simulators.simulators.seedFromIdentity({ userName, email, externalId });
  const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName, externalId, active: true, emails: [{ value: email, type: 'work', primary: true }] });
  expect(created.status).toBe(201);
  if (options.leave) {
    const deactivated = await jml.scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(deactivated.status).toBe(200);
  }
  return { identityId: created.body.id, externalId };
}

async function leaverIn(identityId: string, status: string): Promise<{ id: string }> {
  for (let polls = 0; ; polls++) {
    const [event] = await jml.database.query<{ id: string; status: string }>(`SELECT id, status FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [identityId]);
    if (event?.status === status) return event;
    if (polls > 600) throw new Error(`the leaver of ${identityId} is ${event?.status ?? 'missing'}, never ${status}`);
    await sleep(50);
  }
}

function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
}

/** A session cookie, as the browser would get it. */
async function logIn(): Promise<string> {
  const response = await post('/ui/login', { token: operatorToken }, { origin: base });
  expect(response.status).toBe(303);
  const cookie = response.headers.getSetCookie().find((header) => header.startsWith('jml_ui_session='));
  expect(cookie).toMatch(/HttpOnly/);
  expect(cookie).toMatch(/SameSite=Strict/);
  return cookie!.split(';')[0]!;
}

describe('operator pages without a browser', () => {
  it('send a visitor without a session to the log-in page, with strict security headers', async () => {
    const response = await fetch(`${base}/ui/`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/ui/login');
    const login = await fetch(`${base}/ui/login`);
    expect(login.status).toBe(200);
    expect(login.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(login.headers.get('x-content-type-options')).toBe('nosniff');
    expect(login.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await login.text()).toContain('name="token"');
    expect((await fetch(`${base}/ui/report`, { redirect: 'manual' })).status).toBe(303);
    expect((await post('/ui/held/approve', {}, { origin: base })).status).toBe(401);
  });

  it('refuse a bad token with 401 and audit it in realm ui', async () => {
    const count = async () => {
      await jml.system.authFailures?.flush();
      const rows = await jml.database.query<{ data: { count: number } }>(`SELECT data FROM audit_event WHERE action = 'auth.failed' AND data->>'realm' = 'ui'`);
      return rows.reduce((sum, row) => sum + row.data.count, 0);
    };
    const before = await count();
    const scimToken = (await createToken(jml.system.db, { name: 'okta-ui', kind: 'scim' })).token;
    const unknown = await post('/ui/login', { token: 'jml_op_not-a-real-token' }, { origin: base });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.getSetCookie()).toEqual([]);
    expect(await unknown.text()).toContain('not a valid token');
    // A valid token of a role with no page is refused, not counted as a failed authentication.
    const scim = await post('/ui/login', { token: scimToken }, { origin: base });
    expect(scim.status).toBe(403);
    expect(scim.headers.getSetCookie()).toEqual([]);
    expect((await count()) - before).toBe(1);
  });

  it('refuse a post without our Origin (CSRF), even with a valid session', async () => {
    const cookie = await logIn();
    const approvals = async () => (await jml.database.query(`SELECT 1 FROM audit_event WHERE action = 'operator.approve'`)).length;
    await person('hopper-held', { leave: false });
    expect((await post('/ui/held/approve', {}, { cookie })).status).toBe(403);
    expect((await post('/ui/held/approve', {}, { cookie, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post('/ui/held/approve', {}, { cookie, origin: 'null' })).status).toBe(403);
    expect((await post('/ui/held/approve', {}, { cookie, origin: 'null', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post('/ui/login', { token: operatorToken }, { origin: 'https://evil.example' })).status).toBe(403);
    const ok = await post('/ui/held/approve', {}, { cookie, origin: base });
    expect(ok.status).toBe(303);
    const page = await (await fetch(`${base}/ui/`, { headers: { cookie } })).text();
    expect(page).toContain('Approved 0 held events.');
    expect(await approvals()).toBe(0);
  });

  it('render an attacker-chosen userName as text', async () => {
    const cookie = await logIn();
    const { identityId } = await person(XSS_NAME, { leave: true });
    await leaverIn(identityId, 'completed');
    for (const path of [`/ui/evidence?subject=${encodeURIComponent(XSS_NAME)}`, '/ui/', '/ui/report']) {
      const body = await (await fetch(`${base}${path}`, { headers: { cookie } })).text();
      expect(body, path).not.toContain('<img');
      expect(body, path).not.toContain('onerror=alert(1)>');
    }
    const evidence = await (await fetch(`${base}/ui/evidence?subject=${encodeURIComponent(XSS_NAME)}`, { headers: { cookie } })).text();
    expect(evidence).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('end the session at log-out', async () => {
    const cookie = await logIn();
    expect((await fetch(`${base}/ui/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
    expect((await post('/ui/logout', {}, { cookie, origin: base })).status).toBe(303);
    expect((await fetch(`${base}/ui/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(303);
  });
});

describe('operator pages in Chromium', () => {
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const dialogs: string[] = [];

  beforeAll(async () => {
    const located = locateChromium();
    // Never skipped: a missing browser is a broken test environment, and this says how to fix it.
    if (!located.found) throw new Error(located.reason);
    mkdirSync(SCREENSHOTS, { recursive: true });
    // launch() gives each run a fresh temporary profile (Playwright refuses --user-data-dir here).
    browser = await chromium.launch({
      executablePath: located.path,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('logs in, retries a target that needed attention, and shows the evidence', async () => {
    const { simulators } = jml.simulators;
    const { identityId, externalId } = await person('lovelace-ui', { leave: false });
    simulators.userapi.setFaults({ statusByAccount: { [externalId]: 403 } });
    const deactivated = await jml.scim.patch(`/Users/${identityId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(deactivated.status).toBe(200);
    const event = await leaverIn(identityId, 'needs_attention');

    await page.goto(`${base}/ui/`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.fill('input[name=token]', operatorToken);
    await page.click('form.login button');
    await page.waitForURL(`${base}/ui/`);

    const row = page.locator(`#attention tr[data-event="${event.id}"]`);
    await row.waitFor();
    expect(await row.locator('.person').textContent()).toBe('lovelace-ui');
    expect(await row.locator('li[data-system=userapi] .status').textContent()).toBe('needs_attention');
    expect(await row.locator('li[data-system=userapi] .error').textContent()).toMatch(/403|INSUFFICIENT_PERMISSIONS/);
    await page.screenshot({ path: `${SCREENSHOTS}/needs-attention.png`, fullPage: true });

    simulators.userapi.setFaults({});
    await row.locator('button', { hasText: 'Retry userapi' }).click();
    await page.waitForURL(`${base}/ui/`);
    expect(await page.locator('.flash.ok').textContent()).toContain('Retrying userapi');

    // The retried workflow runs on its own; reload until the event has left "needs attention".
    const completed = page.locator(`#completed tr[data-event="${event.id}"]`);
    await expect
      .poll(
        async () => {
          await page.reload();
          return completed.count();
        },
        { timeout: 30_000, interval: 250 },
      )
      .toBe(1);
    expect(await page.locator(`#attention tr[data-event="${event.id}"]`).count()).toBe(0);
    expect(await completed.locator('li[data-system=userapi] .status').textContent()).toBe('verified');
    await page.screenshot({ path: `${SCREENSHOTS}/retried.png`, fullPage: true });

    await page.click('nav a[href="/ui/report"]');
    const chart = page.locator('svg.chart');
    await chart.waitFor();
    expect(await chart.locator('line.sla').count()).toBe(1);
    expect(await chart.locator('rect.bar.p95').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#report-systems tr[data-system=userapi]').count()).toBe(1);
    await page.screenshot({ path: `${SCREENSHOTS}/sla-report.png`, fullPage: true });

    await page.click('nav a[href="/ui/evidence"]');
    await page.fill('input[name=subject]', 'lovelace-ui');
    await page.click('form.search button');
    const leaver = page.locator(`section.event[data-event="${event.id}"]`);
    await leaver.waitFor();
    for (const [system, outcome] of [['mendix', 'succeeded'], ['rocketchat', 'verified'], ['userapi', 'verified']] as const) {
      expect(await leaver.locator(`tr[data-system=${system}] td.outcome`).textContent(), system).toBe(outcome);
    }
    expect(await leaver.locator('tr[data-system=mendix] td.proof').textContent()).toBe('accepted by the vendor, no read API to verify');
    expect(await leaver.locator('tr[data-system=userapi] td:nth-child(6)').textContent()).toBe('2');
    expect(await page.locator('p.verify').textContent()).toMatch(/rows verify/);
    await page.screenshot({ path: `${SCREENSHOTS}/evidence.png`, fullPage: true });

    expect(problems).toEqual([]);
  });

  it('shows an attacker-chosen userName as text and runs nothing', async () => {
    await page.goto(`${base}/ui/evidence?subject=${encodeURIComponent(XSS_NAME)}`);
    expect(await page.locator('h3.user-name').first().textContent()).toBe(XSS_NAME);
    expect(await page.locator('main img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
  });
});
