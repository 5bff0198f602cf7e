// Reconciliation against the simulators' documented listings and a real PostgreSQL: planted drift,
// orphans and disabled accounts of active people are found exactly, across pages; a dry run and
// remediation say and do what they should; a listing that fails part way is "incomplete", never
// "no drift".
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createConnectors, parseConnectorsConfig } from '../../src/connectors/config.js';
import type { Connector, SystemName } from '../../src/connectors/types.js';
import type { LifecycleSettings } from '../../src/lifecycle/record.js';
import { logger } from '../../src/logger.js';
import { reconcileCommand } from '../../src/cli/reconcile.js';
import { parseEnvironment } from '../../src/config.js';
import { ABANDONED_AFTER_MS, closeAbandonedRuns, reconcileSystem, reconcileSystems } from '../../src/reconcile/run.js';
import { simulatorConnectorEnvironment, startSimulatorServer, type SimulatorServer } from '../../src/simulators/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let server: SimulatorServer;
let connectors: Partial<Record<SystemName, Connector>>;

const lifecycle: LifecycleSettings = { systems: ['rocketchat', 'userapi'], queuePrefix: 'reconcile-test', retryDeadlineMs: 60_000, guard: true };

async function person(userName: string, externalId: string, state: { active?: boolean; deleted?: boolean; terminated?: boolean } = {}) {
  return database.db.identity.create({
    data: {
      userName,
      externalId,
      email: `${userName.toLowerCase()}@example.com`,
      active: state.active ?? true,
      deletedAt: state.deleted ? new Date() : null,
      terminationDate: state.terminated ? new Date(Date.now() - 60_000) : null,
      resource: {},
    },
  });
}

interface Planted {
  drift: Record<string, string[]>;
  orphan: Record<string, string[]>;
  disabled_active: Record<string, string[]>;
}

/** 30 people in line everywhere, and around them one of each case, in both systems. */
async function plant(): Promise<Planted> {
  const { rocketchat, userapi } = server.simulators;
  const rc = (username: string, active = true) => rocketchat.seedUser({ username, email: `${username.toLowerCase()}@example.com`, active })._id;
  const ua = (id: string, active = true) => userapi.seedUser({ id, active }).id;
  for (let n = 0; n < 30; n += 1) {
    await person(`person-${n}`, `emp-${n}`);
    rc(`person-${n}`);
    ua(`emp-${n}`);
  }
  const planted: Planted = { drift: { rocketchat: [], userapi: [] }, orphan: { rocketchat: [], userapi: [] }, disabled_active: { rocketchat: [], userapi: [] } };
  // Leavers: inactive, deleted, past their termination date; disabled in one system, not the other.
  await person('leaver-1', 'emp-l1', { active: false });
  planted.drift.rocketchat!.push(rc('leaver-1'));
  ua('emp-l1', false);
  await person('leaver-2', 'emp-l2', { active: false, deleted: true });
  rc('leaver-2', false);
  planted.drift.userapi!.push(ua('emp-l2'));
  await person('leaver-3', 'emp-l3', { terminated: true });
  planted.drift.rocketchat!.push(rc('leaver-3'));
  planted.drift.userapi!.push(ua('emp-l3'));
  // Rocket.Chat compares usernames ignoring case; a linked account is matched by its id.
  await person('leaver-4', 'emp-l4', { active: false });
  planted.drift.rocketchat!.push(rc('LEAVER-4'));
  const linked = await person('leaver-5', 'emp-l5', { active: false });
  const renamed = rc('renamed-in-chat');
  await database.db.accountLink.create({ data: { identityId: linked.id, system: 'rocketchat', accountId: renamed } });
  planted.drift.rocketchat!.push(renamed);
  // Orphans: active accounts nobody owns; a disabled one is no finding.
  planted.orphan.rocketchat!.push(rc('contractor-x'), rc('bot-y'));
  rc('old-disabled', false);
  planted.orphan.userapi!.push(ua('emp-ghost-1'), ua('emp-ghost-2'));
  // An active person whose account is disabled.
  await person('blocked', 'emp-b');
  planted.disabled_active.rocketchat!.push(rc('blocked', false));
  planted.disabled_active.userapi!.push(ua('emp-b', false));
  return planted;
}

async function findings(runId: string | null) {
  const rows = await database.query<{ kind: string; account_id: string; remediation: string | null; event_id: string | null }>(
    'SELECT kind::text, account_id, remediation, event_id FROM reconcile_finding WHERE run_id = $1 ORDER BY id',
    [runId],
  );
  const byKind: Record<string, string[]> = { drift: [], orphan: [], disabled_active: [] };
  for (const row of rows) byKind[row.kind]!.push(row.account_id);
  for (const list of Object.values(byKind)) list.sort();
  return { rows, byKind };
}

const sorted = (list: string[] | undefined) => [...(list ?? [])].sort();

beforeAll(async () => {
  database = await createTestDatabase();
  server = await startSimulatorServer({ rocketchat: { rateLimit: false }, userapi: { rateLimits: false } });
  connectors = createConnectors(parseConnectorsConfig(simulatorConnectorEnvironment(server.urls)));
});

afterAll(async () => {
  await server.close();
  await database.drop();
});

beforeEach(async () => {
  server.simulators.reset();
  await database.query('TRUNCATE reconcile_finding, reconcile_run, account_link, target_action, outbox, lifecycle_event, identity CASCADE');
});

describe('reconciliation', () => {
  it('finds exactly the planted drift, orphans and disabled accounts of active people, page by page', async () => {
    const planted = await plant();
    const reports = await reconcileSystems({ db: database.db, connectors, logger, pageSize: 7 }, { dryRun: false, remediate: false, trigger: 'test' });
    expect(reports.map((report) => [report.system, report.status])).toEqual([
      ['rocketchat', 'complete'],
      ['mendix', 'not_listable'],
      ['userapi', 'complete'],
    ]);
    for (const system of ['rocketchat', 'userapi'] as const) {
      const report = reports.find((entry) => entry.system === system)!;
      const { byKind } = await findings(report.runId);
      expect(byKind.drift, `${system} drift`).toEqual(sorted(planted.drift[system]));
      expect(byKind.orphan, `${system} orphans`).toEqual(sorted(planted.orphan[system]));
      expect(byKind.disabled_active, `${system} disabled`).toEqual(sorted(planted.disabled_active[system]));
      expect(report).toMatchObject({ drift: planted.drift[system]!.length, orphans: planted.orphan[system]!.length, disabledActive: 1, remediated: 0, error: null });
    }
    // Every account listed: 30 + 5 leavers + orphans + the blocked person (+1 disabled orphan in Rocket.Chat).
    expect(reports[0]).toMatchObject({ accounts: 30 + 5 + 3 + 1, matched: 30 + 5 + 1 });
    expect(reports[2]).toMatchObject({ accounts: 30 + 3 + 2 + 1, matched: 30 + 3 + 1 });
    // Read-only: the listing changed nothing downstream.
    expect(server.simulators.rocketchat.calls().every((call) => call.path === '/api/v1/users.list')).toBe(true);

    const audit = await database.query<{ action: string; system: string; data: Record<string, unknown> }>(
      `SELECT action, system, data FROM audit_event WHERE data->>'runId' = ANY($1) ORDER BY id`,
      [reports.map((report) => report.runId)],
    );
    expect(audit.map((row) => [row.action, row.system])).toEqual([
      ['reconcile.complete', 'rocketchat'],
      ['reconcile.complete', 'userapi'],
    ]);
    expect(audit[0]!.data).toMatchObject({ runId: reports[0]!.runId, accounts: 39, drift: 4, orphans: 2, disabledActive: 1 });
  });

  it('a dry run says what it would deactivate and records no event', async () => {
    const planted = await plant();
    const report = await reconcileSystem({ db: database.db, connectors, logger, lifecycle }, { system: 'rocketchat', dryRun: true, remediate: true, trigger: 'test' });
    const { rows } = await findings(report.runId);
    const drift = rows.filter((row) => row.kind === 'drift');
    expect(drift.map((row) => row.remediation)).toEqual(drift.map((row) => `would deactivate account ${row.account_id} in rocketchat`));
    expect(drift.map((row) => row.account_id).sort()).toEqual(sorted(planted.drift.rocketchat));
    expect(await database.query('SELECT id FROM lifecycle_event')).toEqual([]);
  });

  it('remediation records one leaver event per drifted account, and a second run adds none', async () => {
    const planted = await plant();
    const first = await reconcileSystem({ db: database.db, connectors, logger, lifecycle }, { system: 'rocketchat', dryRun: false, remediate: true, trigger: 'test' });
    expect(first.remediated).toBe(planted.drift.rocketchat!.length);
    const events = await database.query<{ kind: string; actor: string; targets: string[] }>(
      `SELECT e.kind::text, e.actor, array_agg(t.system || ':' || t.action) AS targets FROM lifecycle_event e JOIN target_action t ON t.event_id = e.id GROUP BY e.id`,
    );
    expect(events).toHaveLength(4);
    expect(events.every((event) => event.kind === 'leaver' && event.actor === 'reconcile:test' && event.targets.join() === 'rocketchat:deactivate')).toBe(true);
    const [outbox] = await database.query<{ args: { guard: boolean; targets: unknown[] }[] }>('SELECT args FROM outbox LIMIT 1');
    expect(outbox!.args[0]).toMatchObject({ guard: true, targets: [{ system: 'rocketchat', action: 'deactivate' }] });

    // The events have not run yet: the next run finds the same drift and leaves it to them.
    const second = await reconcileSystem({ db: database.db, connectors, logger, lifecycle }, { system: 'rocketchat', dryRun: false, remediate: true, trigger: 'test' });
    expect(second).toMatchObject({ drift: 4, remediated: 0 });
    const { rows } = await findings(second.runId);
    expect(rows.filter((row) => row.kind === 'drift').every((row) => /^event .* is pending: its deactivation is in hand$/.test(row.remediation ?? ''))).toBe(true);
    expect(await database.query('SELECT id FROM lifecycle_event')).toHaveLength(4);
  });

  it('matches accounts by the lookup as configured (Rocket.Chat by email, the user API by employeeNumber), not by the defaults', async () => {
    const { rocketchat, userapi } = server.simulators;
    // ada is active; her chat username is not her userName, and the user API knows her by employee number.
    await database.db.identity.create({ data: { userName: 'ada', externalId: 'emp-a', employeeNumber: 'E-a', email: 'ada@example.com', active: true, resource: {} } });
    const adaChat = rocketchat.seedUser({ username: 'ada.l', email: 'ADA@example.com' })._id;
    userapi.seedUser({ id: 'E-a' });
    // grace left; her accounts are still active, found by her email and her employee number.
    await database.db.identity.create({ data: { userName: 'grace', externalId: 'emp-g', employeeNumber: 'E-g', email: 'grace@example.com', active: false, resource: {} } });
    const graceChat = rocketchat.seedUser({ username: 'gh', email: 'grace@example.com' })._id;
    userapi.seedUser({ id: 'E-g' });
    // Accounts that the defaults would pin on grace (her userName, her externalId), nobody's by the configured lookups.
    const namesake = rocketchat.seedUser({ username: 'grace', email: 'someone.else@example.com' })._id;
    userapi.seedUser({ id: 'emp-g' });

    const configured = createConnectors(
      parseConnectorsConfig({ ...simulatorConnectorEnvironment(server.urls), ROCKETCHAT_LOOKUP: 'email:email', USERAPI_ID_ATTRIBUTE: 'employeeNumber' }),
    ) as Partial<Record<SystemName, Connector>>;
    const byKindOf = async (connectorsToUse: Partial<Record<SystemName, Connector>>, system: 'rocketchat' | 'userapi') => {
      const report = await reconcileSystem({ db: database.db, connectors: connectorsToUse, logger }, { system, dryRun: true, remediate: false, trigger: 'test' });
      expect(report.status).toBe('complete');
      return (await findings(report.runId)).byKind;
    };
    expect(await byKindOf(configured, 'rocketchat')).toEqual({ drift: [graceChat], orphan: [namesake], disabled_active: [] });
    expect(await byKindOf(configured, 'userapi')).toEqual({ drift: ['E-g'], orphan: ['emp-g'], disabled_active: [] });

    // The same accounts under the default lookups (username:userName, externalId) read the other way round.
    expect(await byKindOf(connectors, 'rocketchat')).toEqual({ drift: [namesake], orphan: sorted([adaChat, graceChat]), disabled_active: [] });
    expect(await byKindOf(connectors, 'userapi')).toEqual({ drift: ['emp-g'], orphan: ['E-a', 'E-g'], disabled_active: [] });
  });

  it('a listing over the vendor\'s rate limit waits out each window (X-RateLimit-Reset, Retry-After) and still lists every account', async () => {
    // Two calls per 3 s window: a listing of 5 pages meets the limit unless two calls take 3 s.
    const limited = await startSimulatorServer({ rocketchat: { rateLimit: { limit: 2, windowMs: 3000 } }, userapi: { rateLimits: [{ limit: 2, windowMs: 3000 }] } });
    try {
      for (let n = 0; n < 22; n += 1) {
        await person(`rl-${n}`, `rl-emp-${n}`, { active: n >= 2 });
        limited.simulators.rocketchat.seedUser({ username: `rl-${n}` });
        limited.simulators.userapi.seedUser({ id: `rl-emp-${n}` });
      }
      const slowed = createConnectors(parseConnectorsConfig(simulatorConnectorEnvironment(limited.urls))) as Partial<Record<SystemName, Connector>>;
      for (const system of ['rocketchat', 'userapi'] as const) {
        const report = await reconcileSystem({ db: database.db, connectors: slowed, logger, pageSize: 5 }, { system, dryRun: true, remediate: false, trigger: 'test' });
        expect(report, system).toMatchObject({ status: 'complete', accounts: 22, matched: 22, drift: 2, orphans: 0 });
        const statuses = limited.simulators[system].calls().map((call) => call.status);
        // Refused at least once, and every refusal was waited out, never given up on.
        expect(statuses.filter((status) => status === 429).length, system).toBeGreaterThan(0);
        expect(statuses.filter((status) => status === 200), system).toHaveLength(5);
        expect(statuses.at(-1), system).toBe(200);
      }
    } finally {
      await limited.close();
    }
  });

  it('a listing that fails part way makes the run incomplete, with the vendor error, never "no drift"', async () => {
    await plant();
    const report = await reconcileSystem(
      {
        db: database.db,
        connectors,
        logger,
        pageSize: 10,
        // The user API goes down after the first page.
        onPage: () => server.simulators.userapi.setFaults({ outageUntil: Date.now() + 60_000 }),
      },
      { system: 'userapi', dryRun: false, remediate: false, trigger: 'test' },
    );
    expect(report).toMatchObject({ status: 'incomplete', accounts: 10 });
    expect(report.error).toMatch(/RetryableDownstreamError/);
    const [run] = await database.query<{ status: string; error: string }>('SELECT status::text, error FROM reconcile_run WHERE id = $1', [report.runId]);
    expect(run).toMatchObject({ status: 'incomplete', error: report.error });
    const [audit] = await database.query<{ action: string }>(`SELECT action FROM audit_event WHERE data->>'runId' = $1`, [report.runId]);
    expect(audit?.action).toBe('reconcile.incomplete');
  });

  it('a lookup by a SCIM path cannot be matched in bulk: incomplete, saying why', async () => {
    const byPath = createConnectors(
      parseConnectorsConfig({ ...simulatorConnectorEnvironment(server.urls), USERAPI_ID_ATTRIBUTE: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber' }),
    ) as Partial<Record<SystemName, Connector>>;
    const report = await reconcileSystem({ db: database.db, connectors: byPath, logger }, { system: 'userapi', dryRun: false, remediate: false, trigger: 'test' });
    expect(report).toMatchObject({ status: 'incomplete', accounts: 0 });
    expect(report.error).toMatch(/LookupNotMatchable: reconciliation matches accounts on userName, email, externalId, employeeNumber or id/);
  });

  it('jml reconcile prints each system\'s counts and exits 1 when it found something', async () => {
    await plant();
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (text: string) => out.push(text), err: (text: string) => err.push(text) };
    const environment = parseEnvironment({ JML_DRY_RUN_SYSTEMS: 'userapi' });
    const code = await reconcileCommand(database.db, { dryRun: false, json: false, raw: {}, environment, connectors }, io);
    expect(code).toBe(1);
    expect(out.join('')).toMatch(/^rocketchat: complete; 39 accounts, 36 matched, 4 drift, 2 orphans, 1 disabled of active people, 0 remediated \(run [0-9a-f-]{36}\)\nmendix: not reconciled: mendix documents no listing of its accounts: it cannot be reconciled\nuserapi: complete; 36 accounts/);
    const runs = await database.query<{ system: string; dry_run: boolean }>('SELECT system, dry_run FROM reconcile_run ORDER BY system');
    expect(runs).toEqual([{ system: 'rocketchat', dry_run: false }, { system: 'userapi', dry_run: true }]);
    expect(await reconcileCommand(database.db, { system: 'ldap', dryRun: false, json: false, raw: {}, environment, connectors }, io)).toBe(2);
    expect(err.join('')).toMatch(/--system must be one of rocketchat, mendix, userapi/);
  });

  it('closes a run a crashed worker left running as incomplete, with the reason and what it found, at start or by the next run', async () => {
    const planted = await plant();
    // A worker that died part way: its run row, the first findings it wrote, and no end.
    const long = new Date(Date.now() - ABANDONED_AFTER_MS - 60_000);
    const crashed = { id: randomUUID(), system: 'rocketchat', trigger: 'schedule', startedAt: long, progressAt: long, accounts: 14 };
    const crashedUserApi = { ...crashed, id: randomUUID(), system: 'userapi', accounts: 7 };
    // Another process still listing: progress a moment ago, so it is left alone.
    const live = { id: randomUUID(), system: 'rocketchat', trigger: 'alice', startedAt: long, progressAt: new Date(), accounts: 300 };
    await database.db.reconcileRun.createMany({ data: [crashed, crashedUserApi, live] });
    await database.db.reconcileFinding.createMany({
      data: [
        { runId: crashed.id, system: 'rocketchat', kind: 'drift', accountId: planted.drift.rocketchat![0]!, accountActive: true },
        { runId: crashed.id, system: 'rocketchat', kind: 'orphan', accountId: planted.orphan.rocketchat![0]!, accountActive: true },
      ],
    });

    // The next run of Rocket.Chat closes Rocket.Chat's abandoned run before it starts.
    const report = await reconcileSystem({ db: database.db, connectors, logger }, { system: 'rocketchat', dryRun: true, remediate: false, trigger: 'test' });
    expect(report.status).toBe('complete');
    const runs = async () => new Map((await database.db.reconcileRun.findMany()).map((run) => [run.id, run]));
    let byId = await runs();
    expect(byId.get(crashed.id)).toMatchObject({ status: 'incomplete', accounts: 14, drift: 1, orphans: 1, disabledActive: 0, finishedAt: expect.any(Date) as unknown });
    expect(byId.get(crashed.id)!.error).toMatch(new RegExp(`^abandoned: no progress since ${long.toISOString().replace(/[.]/g, '\\.')}`));
    expect(byId.get(live.id)!.status).toBe('running');
    expect(byId.get(crashedUserApi.id)!.status).toBe('running');

    // At start, every system's abandoned runs are closed once; the live one stays.
    expect(await closeAbandonedRuns(database.db, { now: new Date() })).toEqual([crashedUserApi.id]);
    expect(await closeAbandonedRuns(database.db, { now: new Date() })).toEqual([]);
    byId = await runs();
    expect(byId.get(crashedUserApi.id)).toMatchObject({ status: 'incomplete', accounts: 7, drift: 0 });
    expect(byId.get(live.id)!.status).toBe('running');
    // Until it, too, stops showing progress.
    expect(await closeAbandonedRuns(database.db, { now: new Date(Date.now() + ABANDONED_AFTER_MS + 1000) })).toEqual([live.id]);

    const audit = await database.query<{ action: string; system: string; data: { runId: string; error: string; abandoned: boolean; drift: number } }>(
      `SELECT action, system, data FROM audit_event WHERE data->>'abandoned' = 'true' ORDER BY id`);
    expect(audit.map((row) => [row.action, row.system, row.data.runId, row.data.drift])).toEqual([
      ['reconcile.incomplete', 'rocketchat', crashed.id, 1],
      ['reconcile.incomplete', 'userapi', crashedUserApi.id, 0],
      ['reconcile.incomplete', 'rocketchat', live.id, 0],
    ]);
    expect(audit.every((row) => row.data.error.startsWith('abandoned: no progress since'))).toBe(true);
  });
});
