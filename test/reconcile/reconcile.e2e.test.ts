// Reconciliation through the real Temporal Schedule and the real leaver path: drifted leavers are
// deactivated once each (counted by the simulator), the next run finds nothing left to do, the
// counts reach /metrics, and a run that finds more drift than the mass-deprovision guard allows
// holds all of it for an operator before any system is touched.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { createLifecycleMetrics } from '../../src/metrics/lifecycle-metrics.js';
import { reconcileScheduleId } from '../../workflows/contract.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

let jml: TestSystem;

beforeAll(async () => {
  jml = await startTestSystem({
    env: {
      JML_RECONCILE_INTERVAL: '6h',
      JML_RECONCILE_REMEDIATE: 'true',
      JML_RETRY_INITIAL_MS: '100',
      JML_GUARD_MAX_LEAVERS: '20',
      JML_GUARD_MIN_LEAVERS: '5',
      JML_GUARD_MAX_SHARE: '0.5',
    },
  });
});

afterAll(async () => {
  await jml.system.client.schedule.getHandle(reconcileScheduleId(jml.taskQueue)).delete();
  await jml.close();
});

/** People in the database and their accounts in Rocket.Chat and the user API; leavers stay active in Rocket.Chat only. */
async function people(prefix: string, count: number, leaver: boolean): Promise<string[]> {
  const { rocketchat, userapi } = jml.simulators.simulators;
  const ids: string[] = [];
  for (let n = 0; n < count; n += 1) {
    const userName = `${prefix}-${n}`;
    await jml.system.db.identity.create({ data: { userName, externalId: `${prefix}-emp-${n}`, active: !leaver, resource: {} } });
    ids.push(rocketchat.seedUser({ username: userName })._id);
    userapi.seedUser({ id: `${prefix}-emp-${n}`, active: !leaver });
  }
  return ids;
}

/** Triggers the schedule and waits for both listing systems' runs of this trigger to finish. */
async function reconcileNow(): Promise<{ system: string; status: string; drift: number; remediated: number }[]> {
  const before = (await jml.database.query<{ count: number }>('SELECT count(*)::int AS count FROM reconcile_run'))[0]!.count;
  await jml.system.client.schedule.getHandle(reconcileScheduleId(jml.taskQueue)).trigger();
  for (let waited = 0; waited < 60_000; waited += 200) {
    const runs = await jml.database.query<{ system: string; status: string; drift: number; remediated: number }>(
      `SELECT system, status::text, drift, remediated FROM reconcile_run WHERE finished_at IS NOT NULL ORDER BY started_at OFFSET $1`,
      [before],
    );
    if (runs.length === 2) return runs;
    await sleep(200);
  }
  throw new Error('the reconciliation did not finish within a minute');
}

async function eventsBy(status: string) {
  return jml.database.query<{ id: string }>(`SELECT id FROM lifecycle_event WHERE actor = 'reconcile:schedule' AND status = $1`, [status]);
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let waited = 0; waited < 60_000; waited += 200) {
    const value = await read();
    if (done(value)) return value;
    await sleep(200);
  }
  return read();
}

const setActiveCalls = (accountId: string) =>
  jml.simulators.simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.setActiveStatus' && (call.body as { userId?: string }).userId === accountId);

describe('reconciliation with remediation', () => {
  it('deactivates each drifted leaver once through the leaver path, and the next run finds nothing left', async () => {
    await people('staff', 60, false);
    const drifted = await people('gone', 3, true);

    const runs = await reconcileNow();
    expect(runs.map((run) => [run.system, run.status, run.drift, run.remediated]).sort()).toEqual([
      ['rocketchat', 'complete', 3, 3],
      ['userapi', 'complete', 0, 0],
    ]);
    const completed = await waitFor(() => eventsBy('completed'), (rows) => rows.length === 3);
    expect(completed).toHaveLength(3);
    for (const accountId of drifted) {
      expect(setActiveCalls(accountId), accountId).toHaveLength(1);
      expect(jml.simulators.simulators.rocketchat.users().find((user) => user._id === accountId)?.active).toBe(false);
    }
    const targets = await jml.database.query<{ status: string }>(
      `SELECT t.status::text FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id WHERE e.actor = 'reconcile:schedule'`,
    );
    expect(targets.map((target) => target.status)).toEqual(['verified', 'verified', 'verified']);

    const metrics = await createLifecycleMetrics({ db: jml.system.db, systems: ['rocketchat', 'userapi'], slaMs: 3_600_000 }).render();
    expect(metrics).toMatch(/jml_reconcile_findings\{system="rocketchat",kind="drift"\} 3/);
    expect(metrics).toMatch(/jml_reconcile_complete\{system="rocketchat"\} 1/);
    expect(metrics).toMatch(/jml_reconcile_accounts\{system="userapi"\} 63/);

    const again = await reconcileNow();
    expect(again.map((run) => [run.system, run.drift, run.remediated]).sort()).toEqual([
      ['rocketchat', 0, 0],
      ['userapi', 0, 0],
    ]);
    for (const accountId of drifted) expect(setActiveCalls(accountId)).toHaveLength(1);
  });

  it('more drift than the guard allows is held for an operator before any system is touched', async () => {
    const drifted = await people('burst', 25, true);
    const runs = await reconcileNow();
    expect(runs.find((run) => run.system === 'rocketchat')).toMatchObject({ drift: 25, remediated: 25 });
    const held = await waitFor(() => eventsBy('held'), (rows) => rows.length === 25);
    expect(held).toHaveLength(25);
    for (const accountId of drifted) expect(setActiveCalls(accountId)).toHaveLength(0);
  });

  it('an operator asks for a dry run over the API, and reads its runs and findings', async () => {
    const { token } = await createToken(jml.system.db, { name: 'ops', kind: 'operator' });
    const { token: scimToken } = await createToken(jml.system.db, { name: 'idp', kind: 'scim' });
    const api = (path: string, bearer: string, body?: unknown) =>
      fetch(`${jml.system.url}/api${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await api('/reconcile', scimToken, {})).status).toBe(403);
    const refused = await api('/reconcile', token, { system: 'mendix' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ error: 'NothingToReconcile' });

    const asked = await api('/reconcile', token, { system: 'rocketchat', dryRun: true });
    expect(asked.status).toBe(202);
    const { workflowId } = (await asked.json()) as { workflowId: string };
    const outcomes = (await jml.resultOf(workflowId)) as unknown as { runId: string; drift: number; remediated: number }[];
    expect(outcomes).toEqual([expect.objectContaining({ system: 'rocketchat', status: 'complete', drift: 25, remediated: 0 })]);

    const runs = (await (await api('/reconcile/runs', token)).json()) as { runs: { id: string; dryRun: boolean; trigger: string }[] };
    expect(runs.runs[0]).toMatchObject({ id: outcomes[0]!.runId, dryRun: true, trigger: 'ops' });
    const page = await api(`/reconcile/runs/${outcomes[0]!.runId}/findings?kind=drift&limit=20`, token);
    const body = (await page.json()) as { findings: { remediation: string; accountId: string }[]; next: string | null };
    expect(body.findings).toHaveLength(20);
    expect(body.findings.every((finding) => finding.remediation === `would deactivate account ${finding.accountId} in rocketchat`)).toBe(true);
    const rest = (await (await api(`/reconcile/runs/${outcomes[0]!.runId}/findings?kind=drift&after=${body.next}`, token)).json()) as { findings: unknown[]; next: string | null };
    expect(rest).toMatchObject({ next: null });
    expect(rest.findings).toHaveLength(5);
  });

  it('the operator page starts a dry run with a button and lists the runs', async () => {
    const base = jml.system.url!;
    const { token } = await createToken(jml.system.db, { name: 'page-ops', kind: 'operator' });
    const form = (path: string, body: Record<string, string>, headers: Record<string, string>) =>
      fetch(`${base}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base, ...headers }, body: new URLSearchParams(body).toString() });
    const login = await form('/ui/login', { token }, {});
    const cookie = login.headers.getSetCookie().find((header) => header.startsWith('jml_ui_session='))!.split(';')[0]!;
    const overview = await (await fetch(`${base}/ui/`, { headers: { cookie } })).text();
    expect(overview).toContain('<form method="post" action="/ui/reconcile">');

    const before = (await jml.database.query<{ count: number }>('SELECT count(*)::int AS count FROM reconcile_run WHERE dry_run'))[0]!.count;
    const pressed = await form('/ui/reconcile', { dryRun: 'true' }, { cookie });
    expect(pressed.status).toBe(303);
    const runs = await waitFor(
      () => jml.database.query<{ id: string; trigger: string }>('SELECT id, trigger FROM reconcile_run WHERE dry_run AND finished_at IS NOT NULL'),
      (rows) => rows.length === before + 2,
    );
    expect(runs.filter((run) => run.trigger === 'page-ops')).toHaveLength(2);
    const page = await (await fetch(`${base}/ui/`, { headers: { cookie } })).text();
    expect(page).toMatch(/Dry run of rocketchat, userapi started/);
    for (const run of runs.filter((entry) => entry.trigger === 'page-ops')) expect(page).toContain(`data-run="${run.id}"`);
  });
});
