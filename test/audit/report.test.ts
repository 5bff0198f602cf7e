// The time-to-deprovision report over a scripted history whose every number is known: leavers,
// target actions and confirmation times written straight into the database. Then real leavers
// through a whole jml, read back through the operator API and /metrics.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deprovisioningReport, reportCsv, reportText, reportWindowSchema, type DeprovisioningReport } from '../../src/audit/report.js';
import { reportBody } from '../../src/ui/pages.js';
import { reportCommand, type ReportArgs } from '../../src/cli/report.js';
import { createToken } from '../../src/auth/tokens.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';
import { integrated } from '../support/audit.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const SLA = 4 * HOUR;
const T0 = new Date('2026-03-02T09:00:00.000Z');
const at = (offsetMs: number, base = T0) => new Date(base.getTime() + offsetMs);
const FROM = new Date('2026-03-01T00:00:00.000Z');
const TO = new Date('2026-03-04T00:00:00.000Z');
/** "Now" for the report: 15 hours after T0. */
const AS_OF = new Date('2026-03-03T00:00:00.000Z');

type System = 'rocketchat' | 'mendix' | 'userapi';
type Status = 'pending' | 'succeeded' | 'verified' | 'not_found' | 'needs_attention' | 'dry_run' | 'cancelled';
/** Per system: the status and, for succeeded, the confirmation time. */
type Targets = Partial<Record<System, { status: Status; confirmedAt?: Date; verifiedAt?: Date; action?: 'deactivate' | 'reactivate' }>>;

let database: TestDatabase;
const ids: Record<string, string> = {};

async function seed(name: string, event: { createdAt: Date; effectiveAt?: Date; kind?: 'leaver' | 'mover'; status?: 'completed' | 'running' | 'needs_attention' | 'waiting' }, targets: Targets) {
  const { db } = database;
  const identity = await db.identity.create({ data: { userName: name, active: false, resource: {} } });
  const id = randomUUID();
  await db.lifecycleEvent.create({
    data: {
      id,
      identityId: identity.id,
      kind: event.kind ?? 'leaver',
      status: event.status ?? 'completed',
      actor: 'okta',
      effectiveAt: event.effectiveAt ?? event.createdAt,
      workflowId: `lifecycle-${id}`,
      changes: {},
      createdAt: event.createdAt,
    },
  });
  await db.targetAction.createMany({
    data: Object.entries(targets).map(([system, target]) => ({
      eventId: id,
      system,
      action: target.action ?? 'deactivate',
      status: target.status,
      confirmedAt: target.confirmedAt ?? null,
      verifiedAt: target.verifiedAt ?? null,
      createdAt: event.createdAt,
    })),
  });
  ids[name] = id;
  return id;
}

beforeAll(async () => {
  database = await createTestDatabase();
  // alice: all three disabled within the hour; Rocket.Chat and the user API read back a minute later.
  await seed('alice', { createdAt: T0 }, {
    rocketchat: { status: 'verified', confirmedAt: at(5 * MINUTE), verifiedAt: at(6 * MINUTE) },
    mendix: { status: 'succeeded', confirmedAt: at(20 * MINUTE) },
    userapi: { status: 'verified', confirmedAt: at(HOUR), verifiedAt: at(HOUR + MINUTE) },
  });
  // bob: Mendix took five hours (over the SLA); no user API account.
  await seed('bob', { createdAt: at(HOUR) }, {
    rocketchat: { status: 'succeeded', confirmedAt: at(HOUR + 10 * MINUTE) },
    mendix: { status: 'succeeded', confirmedAt: at(6 * HOUR) },
    userapi: { status: 'not_found' },
  });
  // carol: recorded in February, effective at T0+2h; Mendix was disabled at once, an hour early.
  const carolDue = at(2 * HOUR);
  await seed('carol', { createdAt: new Date('2026-02-20T12:00:00.000Z'), effectiveAt: carolDue }, {
    rocketchat: { status: 'succeeded', confirmedAt: at(30 * MINUTE, carolDue) },
    mendix: { status: 'succeeded', confirmedAt: at(-HOUR, carolDue) },
    userapi: { status: 'succeeded', confirmedAt: at(2 * HOUR, carolDue) },
  });
  // dave: Mendix still pending and the user API given up on, 12 hours before AS_OF.
  await seed('dave', { createdAt: at(3 * HOUR), status: 'needs_attention' }, {
    rocketchat: { status: 'succeeded', confirmedAt: at(3 * HOUR + 15 * MINUTE) },
    mendix: { status: 'pending' },
    userapi: { status: 'needs_attention' },
  });
  // erin: Rocket.Chat in dry run, Mendix cancelled: only the user API counts.
  await seed('erin', { createdAt: at(4 * HOUR) }, {
    rocketchat: { status: 'dry_run' },
    mendix: { status: 'cancelled' },
    userapi: { status: 'succeeded', confirmedAt: at(4 * HOUR + MINUTE) },
  });
  // Left out: a leaver all in dry run, one before the window, one not due until after AS_OF, and a mover.
  await seed('frank', { createdAt: at(5 * HOUR) }, { rocketchat: { status: 'dry_run' }, mendix: { status: 'dry_run' } });
  await seed('gina', { createdAt: new Date('2026-02-10T09:00:00.000Z') }, { rocketchat: { status: 'succeeded', confirmedAt: new Date('2026-02-10T09:01:00.000Z') } });
  await seed('hank', { createdAt: at(HOUR), effectiveAt: new Date('2026-03-03T12:00:00.000Z'), status: 'waiting' }, { rocketchat: { status: 'pending' } });
  await seed('ivan', { createdAt: at(HOUR), kind: 'mover' }, { mendix: { status: 'succeeded', confirmedAt: at(HOUR + 9 * HOUR) } });
});

afterAll(async () => {
  await database.drop();
});

const notVerified = { verified: 0, p50VerifiedMs: null, p95VerifiedMs: null, maxVerifiedMs: null };
const verifiedOnce = (ms: number) => ({ verified: 1, p50VerifiedMs: ms, p95VerifiedMs: ms, maxVerifiedMs: ms });

/** percentile_cont's linear interpolation, rounded to the millisecond as the report rounds it. */
function percentile(sorted: number[], fraction: number): number {
  const position = fraction * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return Math.round(sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower));
}

function byName(report: DeprovisioningReport) {
  return Object.fromEntries(report.leavers.map((leaver) => [leaver.userName, leaver]));
}

describe('deprovisioningReport', () => {
  let report: DeprovisioningReport;

  beforeAll(async () => {
    report = await deprovisioningReport(database.db, { from: FROM, to: TO, slaMs: SLA, asOf: AS_OF });
  });

  it('lists the leavers due in the window, by due time, with each system measured from the later of creation and effective date', () => {
    expect(report.leavers.map((leaver) => leaver.userName)).toEqual(['alice', 'bob', 'carol', 'dave', 'erin']);
    const leavers = byName(report);
    const durations = (name: string) => Object.fromEntries(leavers[name]!.systems.map((target) => [target.system, [target.outcome, target.durationMs]]));
    expect(durations('alice')).toEqual({ mendix: ['confirmed', 20 * MINUTE], rocketchat: ['confirmed', 5 * MINUTE], userapi: ['confirmed', HOUR] });
    expect(durations('bob')).toEqual({ mendix: ['confirmed', 5 * HOUR], rocketchat: ['confirmed', 10 * MINUTE], userapi: ['not_found', null] });
    // Mendix confirmed an hour before the effective date counts as 0, not as -1 hour.
    expect(durations('carol')).toEqual({ mendix: ['confirmed', 0], rocketchat: ['confirmed', 30 * MINUTE], userapi: ['confirmed', 2 * HOUR] });
    // Open targets show how long they have been open at AS_OF: 12 hours.
    expect(durations('dave')).toEqual({ mendix: ['open', 12 * HOUR], rocketchat: ['confirmed', 15 * MINUTE], userapi: ['open', 12 * HOUR] });
    expect(durations('erin')).toEqual({ userapi: ['confirmed', MINUTE] });
    expect(leavers.carol!.dueAt).toEqual(at(2 * HOUR));
    expect(leavers.dave!.systems.map((target) => target.status)).toEqual(['pending', 'succeeded', 'needs_attention']);
  });

  it('gives each leaver the time until the last system confirmed, or none while one is open', () => {
    const leavers = byName(report);
    expect(Object.fromEntries(Object.entries(leavers).map(([name, leaver]) => [name, leaver.durationMs]))).toEqual({
      alice: HOUR,
      bob: 5 * HOUR,
      carol: 2 * HOUR,
      dave: null,
      erin: MINUTE,
    });
  });

  it('lists the leavers over the SLA (a slow system or one open too long) and those still open', () => {
    expect(report.overSla).toEqual([ids.bob, ids.dave]);
    expect(report.open).toEqual([ids.dave]);
    const flagged = report.leavers.flatMap((leaver) => leaver.systems.filter((target) => target.overSla).map((target) => `${leaver.userName}/${target.system}`));
    expect(flagged).toEqual(['bob/mendix', 'dave/mendix', 'dave/userapi']);
  });

  it('computes p50, p95 and max per system over confirmed disables, and counts the rest', () => {
    const rocketchat = [5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE];
    const mendix = [0, 20 * MINUTE, 5 * HOUR];
    const userapi = [MINUTE, HOUR, 2 * HOUR];
    expect(report.systems).toEqual([
      { system: 'mendix', confirmed: 3, notFound: 0, open: 1, overSla: 2, p50Ms: 20 * MINUTE, p95Ms: percentile(mendix, 0.95), maxMs: 5 * HOUR, ...notVerified },
      { system: 'rocketchat', confirmed: 4, notFound: 0, open: 0, overSla: 0, p50Ms: 12.5 * MINUTE, p95Ms: percentile(rocketchat, 0.95), maxMs: 30 * MINUTE, ...verifiedOnce(6 * MINUTE) },
      { system: 'userapi', confirmed: 3, notFound: 1, open: 1, overSla: 1, p50Ms: HOUR, p95Ms: percentile(userapi, 0.95), maxMs: 2 * HOUR, ...verifiedOnce(HOUR + MINUTE) },
    ]);
    // The interpolated values, spelled out: 0.95 of the way between the last two.
    expect(report.systems.map((summary) => summary.p95Ms)).toEqual([16_320_000, 1_665_000, 6_840_000]);
  });

  it('treats a duration equal to the SLA as within it', async () => {
    const strict = await deprovisioningReport(database.db, { from: FROM, to: TO, slaMs: HOUR, asOf: AS_OF });
    // alice's user API took exactly one hour: not over. carol's took two.
    expect(strict.overSla).toEqual([ids.bob, ids.carol, ids.dave]);
  });

  it('counts a leaver by its due time: the window and AS_OF bound it', async () => {
    const later = await deprovisioningReport(database.db, { from: FROM, to: TO, slaMs: SLA, asOf: new Date('2026-03-03T13:00:00.000Z') });
    // hank is due at 12:00 on 3 March: due now, open for an hour.
    expect(later.leavers.map((leaver) => leaver.userName)).toEqual(['alice', 'bob', 'carol', 'dave', 'erin', 'hank']);
    expect(later.leavers.at(-1)!.systems).toEqual([{ system: 'rocketchat', status: 'pending', outcome: 'open', confirmedAt: null, durationMs: HOUR, verifiedAt: null, verifiedMs: null, overSla: false }]);
    const carolOnly = await deprovisioningReport(database.db, { from: at(2 * HOUR), to: at(3 * HOUR), slaMs: SLA, asOf: AS_OF });
    expect(carolOnly.leavers.map((leaver) => leaver.userName)).toEqual(['carol']);
    const february = await deprovisioningReport(database.db, { from: new Date('2026-02-01T00:00:00Z'), to: FROM, slaMs: SLA, asOf: AS_OF });
    expect(february.leavers.map((leaver) => leaver.userName)).toEqual(['gina']);
  });

  it('renders a table and a CSV row per leaver and system', () => {
    const text = reportText(report);
    expect(text).toContain('SLA 4h 00m');
    // Per system, time to accepted and time to verified side by side (issue 14).
    expect(text).toMatch(/^System\s+Confirmed\s+Not found\s+Open\s+Over SLA\s+p50 accepted\s+p95 accepted\s+Max accepted\s+Verified\s+p50 verified\s+p95 verified$/m);
    expect(reportBody(report, {}).value).toContain('<th>p50 to accepted</th><th>p95 to accepted</th><th>Max to accepted</th><th>Verified</th><th>p50 to verified</th><th>p95 to verified</th>');
    expect(text).toMatch(/^mendix\s+3\s+0\s+1\s+2\s+20m 00s\s+4h 32m\s+5h 00m\s+0\s+-\s+-$/m);
    expect(text).toMatch(/^userapi\s+3\s+1\s+1\s+1\s+1h 00m\s+\S+ \S+\s+2h 00m\s+1\s+1h 01m\s+1h 01m$/m);
    expect(text).toMatch(new RegExp(`^2026-03-02T12:00:00.000Z\\s+${ids.dave}\\s+dave\\s+open 12h 00m \\(pending\\) !\\s+15m 00s\\s+open 12h 00m \\(needs_attention\\) !\\s+open$`, 'm'));
    expect(text).toContain('Leavers: 5, over SLA: 2, still open: 1');

    const lines = reportCsv(report).trimEnd().split('\r\n');
    expect(lines[0]).toBe('event_id,identity_id,user_name,due_at,system,status,outcome,confirmed_at,duration_ms,over_sla,verified_at,verified_ms');
    expect(lines).toHaveLength(1 + 3 + 3 + 3 + 3 + 1);
    const bobMendix = lines.find((line) => line.startsWith(ids.bob!) && line.includes(',mendix,'));
    expect(bobMendix).toMatch(/,bob,2026-03-02T10:00:00.000Z,mendix,succeeded,confirmed,2026-03-02T15:00:00.000Z,18000000,true,,$/);
    const aliceUserApi = lines.find((line) => line.startsWith(ids.alice!) && line.includes(',userapi,'));
    expect(aliceUserApi).toMatch(/,userapi,verified,confirmed,2026-03-02T10:00:00.000Z,3600000,false,2026-03-02T10:01:00.000Z,3660000$/);
  });
});

describe('jml report', () => {
  async function jmlReport(args: Partial<ReportArgs>) {
    let out = '';
    let err = '';
    const code = await reportCommand(database.db, { report: 'deprovisioning', slaMs: SLA, ...args }, { out: (text) => (out += text), err: (text) => (err += text) });
    return { code, out, err };
  }

  it('prints JSON and CSV for a window given as dates', async () => {
    const json = await jmlReport({ from: '2026-03-01', to: '2026-03-02T11:30:00+01:00', format: 'json' });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.out) as { leavers: { userName: string }[]; overSla: string[]; from: string; to: string };
    // Up to 10:30 UTC: alice (09:00) and bob (10:00).
    expect(parsed.leavers.map((leaver) => leaver.userName)).toEqual(['alice', 'bob']);
    expect(parsed.overSla).toEqual([ids.bob]);
    expect([parsed.from, parsed.to]).toEqual(['2026-03-01T00:00:00.000Z', '2026-03-02T10:30:00.000Z']);

    const csv = await jmlReport({ from: '2026-03-01', to: '2026-03-02T11:30:00+01:00', format: 'csv' });
    expect(csv.out.split('\r\n').filter(Boolean)).toHaveLength(1 + 6);
  });

  it('refuses bad dates, a reversed window, an unknown format or report with exit code 2', async () => {
    expect(await jmlReport({ from: 'yesterday' })).toMatchObject({ code: 2, err: expect.stringContaining('--from: must be an ISO 8601 date') as unknown });
    expect(await jmlReport({ from: '2026-03-02', to: '2026-03-01' })).toMatchObject({ code: 2, err: expect.stringContaining('--from: must be before to') as unknown });
    expect(await jmlReport({ format: 'xml' })).toMatchObject({ code: 2, err: expect.stringContaining('--format: must be one of text, json, csv') as unknown });
    expect(await jmlReport({ report: 'joiners' })).toMatchObject({ code: 2, err: expect.stringContaining('Usage: jml report deprovisioning') as unknown });
  });
});

describe('the report and /metrics of a running jml', () => {
  let jml: TestSystem;
  let operatorToken: string;

  beforeAll(async () => {
    jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' } });
    operatorToken = (await createToken(jml.system.db, { name: 'auditor', kind: 'operator' })).token;
  });

  afterAll(async () => {
    await jml?.close();
  });

  async function leave(userName: string) {
    const email = `${userName}@example.com`;
    jml.simulators.simulators.seedFromIdentity({ userName, email, externalId: userName });
    const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName, externalId: userName, emails: [{ value: email, type: 'work', primary: true }] });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })).status).toBe(200);
    const [event] = await jml.database.query<{ id: string; workflow_id: string }>("SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'", [id]);
    await jml.resultOf(event!.workflow_id);
    return event!.id;
  }

  const api = (path: string, token: string | null = operatorToken) => fetch(`${jml.system.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('shows real leavers: confirmed systems with their durations, and a refused one as open', async () => {
    const from = new Date(Date.now() - 60_000).toISOString();
    const done = await leave('leaver-done');
    // Mendix refuses the second leaver for good: that target needs attention, so the leaver is open.
    jml.simulators.simulators.mendix.setFaults({ statusByAccount: { 'leaver-refused@example.com': 403 } });
    const refused = await leave('leaver-refused');
    jml.simulators.simulators.mendix.setFaults({});
    const to = new Date(Date.now() + 60_000).toISOString();

    const response = await api(`/api/reports/deprovisioning?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    expect(response.status).toBe(200);
    const report = (await response.json()) as {
      leavers: { eventId: string; dueAt: string; open: boolean; systems: { system: string; status: string; outcome: string; confirmedAt: string | null; durationMs: number | null }[] }[];
      open: string[];
      systems: { system: string; confirmed: number; open: number; verified: number }[];
      slaMs: number;
    };
    expect(report.slaMs).toBe(4 * HOUR);
    expect(report.leavers.map((leaver) => leaver.eventId)).toEqual([done, refused]);
    expect(report.open).toEqual([refused]);
    const [first, second] = report.leavers;
    expect(first!.systems.map((target) => [target.system, target.outcome])).toEqual([['mendix', 'confirmed'], ['rocketchat', 'confirmed'], ['userapi', 'confirmed']]);
    for (const target of first!.systems) expect(target.durationMs).toBe(Math.max(0, Date.parse(target.confirmedAt!) - Date.parse(first!.dueAt)));
    expect(second!.systems.map((target) => [target.system, target.status])).toEqual([['mendix', 'needs_attention'], ['rocketchat', 'verified'], ['userapi', 'verified']]);
    expect(report.systems.map((summary) => [summary.system, summary.confirmed, summary.open])).toEqual([['mendix', 1, 1], ['rocketchat', 2, 0], ['userapi', 2, 0]]);
    // Time to verified, where the vendor documents a read: never for Mendix.
    expect(report.systems.map((summary) => [summary.system, summary.verified])).toEqual([['mendix', 0], ['rocketchat', 2], ['userapi', 2]]);

    const csv = await api(`/api/reports/deprovisioning?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&format=csv`);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename=deprovisioning-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
    expect((await csv.text()).split('\r\n').filter(Boolean)).toHaveLength(1 + 6);

    // /metrics counts what the chain covers; the server's integrator links rows within a few hundred
    // ms (decision 016), so link them now rather than race it.
    await integrated(jml.system.db);
    const metrics = await (await api('/metrics')).text();
    expect(metrics).toMatch(/^jml_time_to_deprovision_seconds_count\{system="rocketchat"\} 2$/m);
    expect(metrics).toMatch(/^jml_time_to_deprovision_seconds_count\{system="mendix"\} 1$/m);
    expect(metrics).toMatch(/^jml_time_to_verified_seconds_count\{system="userapi"\} 2$/m);
    expect(metrics).not.toMatch(/^jml_time_to_verified_seconds_count\{system="mendix"\}/m);
    expect(metrics).toMatch(/^jml_lifecycle_events_total\{kind="leaver"\} 2$/m);
    expect(metrics).toMatch(/^jml_downstream_calls_total\{system="mendix",action="deactivate",outcome="attempt_failed"\} 1$/m);
    expect(metrics).toMatch(/^jml_target_actions_open\{system="mendix",action="deactivate",status="needs_attention"\} 1$/m);
  });

  it('needs an operator token, and says which parameter is wrong', async () => {
    expect((await api('/api/reports/deprovisioning', null)).status).toBe(401);
    expect((await api('/metrics', null)).status).toBe(401);
    const invalid = await api('/api/reports/deprovisioning?from=last-week&format=xml');
    expect(invalid.status).toBe(400);
    const body = (await invalid.json()) as { error: string; errors: { field: string }[] };
    expect(body.error).toBe('InvalidRequest');
    expect(body.errors.map((entry) => entry.field)).toEqual(['format']);
    const reversed = (await (await api('/api/reports/deprovisioning?from=2026-03-02&to=2026-03-01')).json()) as { errors: { field: string; message: string }[] };
    expect(reversed.errors).toEqual([{ field: 'from', message: 'must be before to' }]);
    const unknown = (await (await api('/api/reports/deprovisioning?since=2026-03-01')).json()) as { errors: { field: string }[] };
    expect(unknown.errors).toEqual([{ field: 'since', message: 'is not a known field' }]);
  });
});

describe('the report window', () => {
  it('spans at most a year, so one request cannot make PostgreSQL sort the whole history', () => {
    expect(reportWindowSchema.safeParse({ from: '2026-01-01', to: '2027-01-01' }).success).toBe(true);
    const wide = reportWindowSchema.safeParse({ from: '2020-01-01', to: '2026-01-01' });
    expect(wide.success).toBe(false);
    expect(wide.error?.issues[0]?.message).toContain('at most 366 days');
  });
});
