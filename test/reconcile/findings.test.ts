// Reconciliation's findings one by one (issue 14): each listed with the person and what to do, on
// the API, the page and `jml reconcile show`; an auditor reads them, an operator remediates a
// drifted leaver (a leaver event, audited) or ignores a finding with the reason (audited, and the
// same account reads as ignored in later runs, where automatic remediation leaves it alone).
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperatorRouter } from '../../src/api/router.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { reconcileCommand } from '../../src/cli/reconcile.js';
import { parseEnvironment } from '../../src/config.js';
import { createConnectors, parseConnectorsConfig } from '../../src/connectors/config.js';
import type { Connector, SystemName } from '../../src/connectors/types.js';
import type { LifecycleSettings } from '../../src/lifecycle/record.js';
import { logger } from '../../src/logger.js';
import { reconcileSystem } from '../../src/reconcile/run.js';
import { simulatorConnectorEnvironment, startSimulatorServer, type SimulatorServer } from '../../src/simulators/index.js';
import { createUiRouter } from '../../src/ui/router.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen } from '../support/scim-app.js';
import { operatorClient } from '../ui/operator-http.js';

let database: TestDatabase;
let server: SimulatorServer;
let connectors: Partial<Record<SystemName, Connector>>;
let base: string;
let close: () => Promise<void>;
const tokens: Record<string, string> = {};
const lifecycle: LifecycleSettings = { systems: ['rocketchat', 'userapi'], queuePrefix: 'findings-test', retryDeadlineMs: 60_000, guard: true };

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startSimulatorServer({ rocketchat: { rateLimit: false }, userapi: { rateLimits: false } });
  connectors = createConnectors(parseConnectorsConfig(simulatorConnectorEnvironment(server.urls)));
  const { db } = database;
  const common = { db, verifyToken: createTokenVerifier({ db }), authFailures: new AuthFailureGuard({ db, logger }), logger, onOutboxWritten: () => {} };
  const reconcile = { systems: ['rocketchat' as const], queuePrefix: 'findings-test' };
  const intake = { db, lifecycle, onOutboxWritten: () => {} };
  const app = express();
  app.use('/api', createOperatorRouter({ ...common, reconcile, intake }));
  app.use('/ui', createUiRouter({ ...common, reconcile, intake }));
  const { server: http, baseUrl } = await listen(app as never);
  base = baseUrl;
  close = () => new Promise((resolve) => http.close(() => resolve()));
  for (const [name, kind] of [['grace', 'operator'], ['audrey', 'auditor']] as const) tokens[name] = (await createToken(db, { name, kind })).token;
});

afterAll(async () => {
  await close?.();
  await server?.close();
  await database?.drop();
});

async function person(userName: string, active: boolean) {
  return database.db.identity.create({ data: { userName, externalId: `emp-${userName}`, email: `${userName}@example.com`, active, resource: {} } });
}

const { api, logIn } = operatorClient(() => base, tokens);

interface Finding {
  id: string;
  kind: string;
  accountId: string;
  userName: string | null;
  eventId: string | null;
  ignoredBy: string | null;
  nextStep: string | null;
}

const run = () => reconcileSystem({ db: database.db, connectors, logger, lifecycle, pageSize: 3 }, { system: 'rocketchat', dryRun: false, remediate: true, trigger: 'test' });

describe('reconciliation findings, one by one', () => {
  it('lists each finding with what to do; an operator remediates a drift and ignores the rest with reasons; an auditor only reads', async () => {
    const { rocketchat } = server.simulators;
    for (const n of [1, 2, 3]) {
      await person(`fine-${n}`, true);
      rocketchat.seedUser({ username: `fine-${n}`, email: `fine-${n}@example.com` });
    }
    const left = await person('left-1', false);
    const kept = await person('left-2', false);
    await person('blocked', true);
    rocketchat.seedUser({ username: 'left-1', email: 'left-1@example.com' });
    rocketchat.seedUser({ username: 'left-2', email: 'left-2@example.com' });
    rocketchat.seedUser({ username: 'blocked', email: 'blocked@example.com', active: false });
    const botId = rocketchat.seedUser({ username: 'build-bot', email: 'bot@example.com' })._id;

    // Remediation is on, but this first run is a dry run: it only says what it would deactivate.
    const first = await reconcileSystem({ db: database.db, connectors, logger, lifecycle, pageSize: 3 }, { system: 'rocketchat', dryRun: true, remediate: true, trigger: 'test' });
    expect(first).toMatchObject({ status: 'complete', drift: 2, orphans: 1, disabledActive: 1, remediated: 0 });

    const audited = await api('GET', `/reconcile/runs/${first.runId}/findings`, 'audrey');
    expect(audited.status).toBe(200);
    const findings = audited.body.findings as Finding[];
    const byAccount = (name: string) => findings.find((finding) => finding.userName === name || (name === 'build-bot' && finding.accountId === botId))!;
    expect(findings.map((finding) => [finding.kind, finding.userName]).sort()).toEqual([
      ['disabled_active', 'blocked'],
      ['drift', 'left-1'],
      ['drift', 'left-2'],
      ['orphan', null],
    ]);
    const drift = byAccount('left-1');
    const keptDrift = byAccount('left-2');
    const orphan = byAccount('build-bot');
    const disabled = byAccount('blocked');
    expect(drift.nextStep).toBe(`This leaver's rocketchat account is still active: deactivate it (jml reconcile remediate ${drift.id}, or Remediate on the operator page; the guard applies), or ignore it with the reason (jml reconcile ignore ${drift.id} --reason "...", or Ignore on the operator page).`);
    expect(orphan.nextStep).toMatch(/^An active rocketchat account that matches nobody: find its owner .* then ignore it with the reason \(jml reconcile ignore \d+/);
    expect(disabled.nextStep).toMatch(/^rocketchat shows this active person's account disabled: ask their manager/);

    // An auditor may read, never act.
    expect((await api('GET', '/reconcile/runs', 'audrey')).status).toBe(200);
    expect((await api('POST', `/reconcile/findings/${drift.id}/remediate`, 'audrey')).status).toBe(403);
    expect((await api('POST', `/reconcile/findings/${orphan.id}/ignore`, 'audrey', { reason: 'x' })).status).toBe(403);

    // Remediate: the orphan cannot be (nobody's account); the drift gets one leaver event, once.
    const refused = await api('POST', `/reconcile/findings/${orphan.id}/remediate`, 'grace');
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/an orphan/);
    const remediated = await api('POST', `/reconcile/findings/${drift.id}/remediate`, 'grace');
    expect(remediated.status).toBe(200);
    const eventId = remediated.body.eventId as string;
    expect(remediated.body.nextStep).toBe(`A leaver event deactivates it: follow it (jml events show ${eventId}).`);
    const [event] = await database.query<{ identity_id: string; kind: string; actor: string }>(`SELECT identity_id, kind::text, actor FROM lifecycle_event WHERE id = $1`, [eventId]);
    expect(event).toEqual({ identity_id: left.id, kind: 'leaver', actor: 'grace' });
    expect(await database.query(`SELECT system, action::text FROM target_action WHERE event_id = $1`, [eventId])).toEqual([{ system: 'rocketchat', action: 'deactivate' }]);
    expect((await database.query(`SELECT 1 FROM outbox WHERE kind = 'start' AND workflow_id LIKE '%' || $1 || '%'`, [eventId])).length).toBe(1);
    expect((await api('POST', `/reconcile/findings/${drift.id}/remediate`, 'grace')).status).toBe(409);

    // Ignore needs a reason; each is audited; a second ignore is refused.
    expect((await api('POST', `/reconcile/findings/${orphan.id}/ignore`, 'grace', {})).status).toBe(400);
    const ignored = await api('POST', `/reconcile/findings/${orphan.id}/ignore`, 'grace', { reason: 'the CI bot: owned by the platform team' });
    expect(ignored.body).toMatchObject({ ignoredBy: 'grace', ignoredReason: 'the CI bot: owned by the platform team', nextStep: null });
    expect((await api('POST', `/reconcile/findings/${orphan.id}/ignore`, 'grace', { reason: 'again' })).status).toBe(409);
    expect((await api('POST', `/reconcile/findings/${keptDrift.id}/ignore`, 'grace', { reason: 'kept for the legal hold' })).status).toBe(200);
    const audit = await database.query<{ actor: string; action: string; identity_id: string | null; data: Record<string, unknown> }>(
      `SELECT actor, action, identity_id, data FROM audit_event WHERE action LIKE 'operator.reconcile.%' ORDER BY id`,
    );
    expect(audit.map((row) => [row.actor, row.action, row.data.findingId])).toEqual([
      ['grace', 'operator.reconcile.remediate', drift.id],
      ['grace', 'operator.reconcile.ignore', orphan.id],
      ['grace', 'operator.reconcile.ignore', keptDrift.id],
    ]);
    expect(audit[2]).toMatchObject({ identity_id: kept.id, data: { kind: 'drift', reason: 'kept for the legal hold' } });

    // The next run, with remediation: the ignored drift is left alone and reads as ignored; the
    // remediated one is in hand (its event is still pending here: no worker runs).
    const second = await run();
    expect(second).toMatchObject({ drift: 2, orphans: 1, remediated: 0 });
    const again = (await api('GET', `/reconcile/runs/${second.runId}/findings`, 'grace')).body.findings as Finding[];
    const carried = again.find((finding) => finding.kind === 'orphan')!;
    expect(carried).toMatchObject({ ignoredBy: 'grace', nextStep: null });
    expect(again.find((finding) => finding.userName === 'left-2')).toMatchObject({ ignoredBy: 'grace', eventId: null });
    expect(again.find((finding) => finding.userName === 'left-1')!.nextStep).toMatch(new RegExp(`^Nothing was started: event ${eventId} is pending`));
    expect(await database.query(`SELECT 1 FROM lifecycle_event`)).toHaveLength(1);

    // The page: an auditor sees the findings and what to do, without buttons; an operator acts there.
    const auditorPage = await (await fetch(`${base}/ui/reconcile/runs/${first.runId}`, { headers: { cookie: await logIn('audrey') } })).text();
    expect(auditorPage).toContain('id="findings-table"');
    expect(auditorPage).toContain('rocketchat shows this active person&#39;s account disabled');
    expect(auditorPage).not.toContain('<button type="submit">Ignore</button>');
    const cookie = await logIn('grace');
    const operatorPage = await (await fetch(`${base}/ui/reconcile/runs/${first.runId}`, { headers: { cookie } })).text();
    expect(operatorPage).toContain(`action="/ui/reconcile/findings/${disabled.id}/ignore"`);
    const posted = await fetch(`${base}/ui/reconcile/findings/${disabled.id}/ignore`, { method: 'POST', redirect: 'manual', headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: 'reason=on+leave+until+March' });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(`/ui/reconcile/runs/${first.runId}`);
    const after = await (await fetch(`${base}/ui/reconcile/runs/${first.runId}`, { headers: { cookie } })).text();
    expect(after).toContain(`Ignored finding ${disabled.id} (disabled_active`);
    expect(after).toContain('Ignored by grace');

    // The CLI lists the same findings with the same next steps.
    let out = '';
    const code = await reconcileCommand(
      database.db,
      { action: 'show', target: second.runId!, dryRun: false, json: false, raw: {}, environment: parseEnvironment({}) },
      { out: (text) => void (out += text), err: (text) => void (out += text) },
    );
    expect(code).toBe(0);
    expect(out).toContain(`orphan rocketchat account ${orphan.accountId} (nobody): ignored by grace: the CI bot: owned by the platform team`);
    // The person ignored on the page reads as ignored in the later run too.
    expect(out).toContain('disabled_active rocketchat account');
    expect(out).toContain('(blocked): ignored by grace: on leave until March');
    expect(out).toContain(`next: Nothing was started: event ${eventId} is pending`);
  });
});
