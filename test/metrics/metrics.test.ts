// /metrics: who may scrape it, and that the figures are the audit log's, counted once, the same
// on every replica. The history is scripted: audit rows and target actions with chosen times.
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, type AuditEntry } from '../../src/audit/append.js';
import { AuditIntegrator } from '../../src/audit/integrator.js';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { createLifecycleMetrics, type LifecycleMetrics } from '../../src/metrics/lifecycle-metrics.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen, scimOptions } from '../support/scim-app.js';

const SYSTEMS = ['rocketchat', 'mendix', 'userapi'];
const SLA_MS = 4 * 60 * 60 * 1000;
const METRICS_TOKEN = 'prometheus-scrapes-jml-with-this-long-token';
const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

let database: TestDatabase;
let server: Server;
let baseUrl: string;
let metrics: LifecycleMetrics;
let authFailures: AuthFailureGuard;
let operatorToken: string;
let scimToken: string;

/** Appended and integrated: the metrics count what the chain covers (decision 016). */
async function audit(entries: AuditEntry[], when: Date) {
  await database.db.$transaction((tx) => appendAudit(tx, entries, when));
  await integrated(database.db);
}

async function leaverEvent(kind: 'leaver' | 'mover', createdAt: Date, effectiveAt = createdAt) {
  const identity = await database.db.identity.create({ data: { userName: `u-${createdAt.getTime()}-${kind}-${Math.random()}`, resource: {} } });
  const event = await database.db.lifecycleEvent.create({
    data: { identityId: identity.id, kind, status: 'running', actor: 'okta', effectiveAt, workflowId: `wf-${identity.id}`, changes: {}, createdAt },
  });
  return { identityId: identity.id, eventId: event.id };
}

const target = (eventId: string, system: string, action: string): AuditEntry => ({ actor: 'system', action, eventId, system });

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  metrics = createLifecycleMetrics({ db, systems: SYSTEMS, slaMs: SLA_MS });
  authFailures = new AuthFailureGuard({ db, logger });
  const app = createApp({ db, scim: scimOptions(db), metrics: { metrics, verifyToken: createTokenVerifier({ db }), authFailures, metricsToken: METRICS_TOKEN, logger } });
  ({ server, baseUrl } = await listen(app));
  operatorToken = (await createToken(db, { name: 'ops', kind: 'operator' })).token;
  scimToken = (await createToken(db, { name: 'okta', kind: 'scim' })).token;

  // Two leavers (one due an hour after it was recorded), a mover, a joiner.
  const first = await leaverEvent('leaver', T0);
  const second = await leaverEvent('leaver', T0, at(3600));
  const mover = await leaverEvent('mover', T0);
  await audit(
    [
      { actor: 'okta', action: 'lifecycle.leaver.detected', eventId: first.eventId },
      { actor: 'okta', action: 'lifecycle.leaver.detected', eventId: second.eventId },
      { actor: 'okta', action: 'lifecycle.mover.detected', eventId: mover.eventId },
      { actor: 'okta', action: 'lifecycle.joiner.detected' },
      { actor: 'system', action: 'lifecycle.leaver.held', eventId: second.eventId },
      { actor: 'system', action: 'scim.user.created' },
    ],
    T0,
  );
  await audit([target(first.eventId, 'userapi', 'target.deactivate.attempt_failed'), target(first.eventId, 'userapi', 'target.deactivate.attempt_failed')], at(60));
  // first: Rocket.Chat after 2 minutes, the user API after 5 hours (over the SLA), no Mendix account.
  await audit([target(first.eventId, 'rocketchat', 'target.deactivate.succeeded')], at(120));
  await audit([target(first.eventId, 'userapi', 'target.deactivate.succeeded')], at(5 * 3600));
  await audit([target(first.eventId, 'mendix', 'target.deactivate.account_not_found')], at(130));
  // second: Mendix disabled at once, half an hour before the date (0 s); Rocket.Chat in dry run.
  await audit([target(second.eventId, 'mendix', 'target.deactivate.succeeded'), target(second.eventId, 'rocketchat', 'target.deactivate.dry_run')], at(1800));
  await audit([target(second.eventId, 'userapi', 'target.deactivate.needs_attention')], at(7200));
  // The mover's Mendix account is a downstream call, but not a leaver's time to deprovision.
  await audit([target(mover.eventId, 'mendix', 'target.deactivate.succeeded'), target(mover.eventId, 'mendix', 'target.reactivate.manual_action_required')], at(9 * 3600));

  await db.targetAction.createMany({
    data: [
      { eventId: second.eventId, system: 'userapi', action: 'deactivate', status: 'needs_attention' },
      { eventId: second.eventId, system: 'rocketchat', action: 'deactivate', status: 'pending' },
      { eventId: first.eventId, system: 'rocketchat', action: 'deactivate', status: 'succeeded', confirmedAt: at(120) },
    ],
  });
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await database.drop();
});

const scrape = (token?: string) => fetch(`${baseUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function samplesOf(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not an exposition line: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((pair) => [pair[1]!, pair[2]!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** Every sample of one metric, as `label=value,...` → value (labels sorted). */
function series(samples: Sample[], name: string): Record<string, number> {
  return Object.fromEntries(
    samples
      .filter((sample) => sample.name === name)
      .map((sample) => [Object.entries(sample.labels).sort(([a], [b]) => a.localeCompare(b)).map(([key, value]) => `${key}=${value}`).join(','), sample.value]),
  );
}

describe('GET /metrics', () => {
  it('refuses a request without a credential or with an unknown token (401, audited), and a SCIM token (403)', async () => {
    const scim = await scrape(scimToken);
    expect(scim.status).toBe(403);
    expect(await scim.text()).toContain('may not read metrics');
    for (const token of [undefined, `jml_op_${'x'.repeat(43)}`, 'jml_op_not-a-real-token', `${METRICS_TOKEN}x`]) {
      const response = await scrape(token);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="jml-metrics"');
      expect(await response.text()).not.toContain('jml_');
    }
    // Counted in memory, written as one row for the window and the address.
    expect(await database.query("SELECT 1 FROM audit_event WHERE action = 'auth.failed'")).toEqual([]);
    await authFailures.flush();
    const failures = await database.query<{ data: { realm: string; count: number; reasons: Record<string, number>; paths: Record<string, number> } }>("SELECT data FROM audit_event WHERE action = 'auth.failed' ORDER BY id");
    expect(failures.map((row) => row.data)).toEqual([
      expect.objectContaining({ realm: 'metrics', count: 4, reasons: { 'no bearer token': 1, 'unknown or revoked token': 3 }, paths: { 'GET /metrics': 4 } }),
    ]);
  });

  it('serves the Prometheus text format to an operator token and to JML_METRICS_TOKEN', async () => {
    for (const token of [operatorToken, METRICS_TOKEN]) {
      const response = await scrape(token);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await response.text();
      expect(text).toContain('# TYPE jml_time_to_deprovision_seconds histogram');
      // Process metrics from prom-client's defaults.
      expect(samplesOf(text).map((sample) => sample.name)).toEqual(expect.arrayContaining(['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']));
    }
  });

  it('counts events by kind, downstream calls by system, action and outcome, and guard holds from the audit log', async () => {
    const samples = samplesOf(await (await scrape(operatorToken)).text());
    expect(series(samples, 'jml_lifecycle_events_total')).toEqual({ 'kind=joiner': 1, 'kind=leaver': 2, 'kind=mover': 1, 'kind=rehire': 0 });
    expect(series(samples, 'jml_guard_holds_total')).toEqual({ '': 1 });
    // Dry runs and needs_attention verdicts call nothing: they are not here.
    expect(series(samples, 'jml_downstream_calls_total')).toEqual({
      'action=deactivate,outcome=attempt_failed,system=userapi': 2,
      'action=deactivate,outcome=succeeded,system=rocketchat': 1,
      'action=deactivate,outcome=succeeded,system=userapi': 1,
      'action=deactivate,outcome=not_found,system=mendix': 1,
      'action=deactivate,outcome=succeeded,system=mendix': 2,
      'action=reactivate,outcome=manual_action_required,system=mendix': 1,
    });
  });

  it("measures leavers' time to deprovision per system from the later of event and effective date, with the SLA as a bucket", async () => {
    const samples = samplesOf(await (await scrape(METRICS_TOKEN)).text());
    expect(series(samples, 'jml_time_to_deprovision_seconds_count')).toEqual({ 'system=mendix': 1, 'system=rocketchat': 1, 'system=userapi': 1 });
    expect(series(samples, 'jml_time_to_deprovision_seconds_sum')).toEqual({ 'system=mendix': 0, 'system=rocketchat': 120, 'system=userapi': 5 * 3600 });
    const buckets = series(samples, 'jml_time_to_deprovision_seconds_bucket');
    expect(buckets['le=60,system=rocketchat']).toBe(0);
    expect(buckets['le=300,system=rocketchat']).toBe(1);
    expect(buckets['le=14400,system=userapi']).toBe(0);
    expect(buckets['le=28800,system=userapi']).toBe(1);
    expect(buckets['le=60,system=mendix']).toBe(1);
    expect(series(samples, 'jml_target_actions_open')).toMatchObject({
      'action=deactivate,status=needs_attention,system=userapi': 1,
      'action=deactivate,status=pending,system=rocketchat': 1,
      'action=deactivate,status=pending,system=userapi': 0,
    });
  });

  it('adds only what the log gained since the last scrape, and a fresh replica reports the same', async () => {
    const leaver = await leaverEvent('leaver', at(10 * 3600));
    await audit([{ actor: 'okta', action: 'lifecycle.leaver.detected', eventId: leaver.eventId }], at(10 * 3600));
    await audit([target(leaver.eventId, 'rocketchat', 'target.deactivate.succeeded')], at(10 * 3600 + 600));
    const [first, second] = await Promise.all([scrape(operatorToken), scrape(operatorToken)]);
    for (const text of [await first.text(), await second.text()]) {
      const samples = samplesOf(text);
      expect(series(samples, 'jml_lifecycle_events_total')['kind=leaver']).toBe(3);
      expect(series(samples, 'jml_time_to_deprovision_seconds_count')['system=rocketchat']).toBe(2);
      expect(series(samples, 'jml_time_to_deprovision_seconds_sum')['system=rocketchat']).toBe(720);
    }

    const replica = createLifecycleMetrics({ db: database.db, systems: SYSTEMS, slaMs: SLA_MS });
    const jmlLines = (text: string) => text.split('\n').filter((line) => line.startsWith('jml_'));
    expect(jmlLines(await replica.render())).toEqual(jmlLines(await metrics.render()));
  });

  it('shows audit rows waiting for the integrator and how long they waited (decision 016)', async () => {
    await database.db.$transaction((tx) => appendAudit(tx, [{ actor: 'okta', action: 'test.pending' }, { actor: 'okta', action: 'test.pending' }]));
    const waiting = samplesOf(await metrics.render());
    expect(series(waiting, 'jml_audit_unintegrated_rows')).toEqual({ '': 2 });
    expect(series(waiting, 'jml_audit_oldest_unintegrated_seconds')['']).toBeGreaterThanOrEqual(0);
    expect(series(waiting, 'jml_audit_integration_delay_seconds_count')).toEqual({ '': 0 });

    await new AuditIntegrator({ db: database.db, onBatch: (batch) => metrics.observeIntegration(batch) }).integrateAll();
    const integratedNow = samplesOf(await metrics.render());
    expect(series(integratedNow, 'jml_audit_unintegrated_rows')).toEqual({ '': 0 });
    expect(series(integratedNow, 'jml_audit_oldest_unintegrated_seconds')).toEqual({ '': 0 });
    expect(series(integratedNow, 'jml_audit_integration_delay_seconds_count')).toEqual({ '': 2 });
  });
});
