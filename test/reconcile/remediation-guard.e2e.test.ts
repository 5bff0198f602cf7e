// Issue 14's Done-when, at test scale (bench/reconcile.ts runs it at 100,000 accounts): a
// reconciliation over 1,000 simulated accounts per system with 50 planted drifts and 50 orphans
// finds exactly those; with remediation on, the 100 leaver events (50 per system) are more than
// the mass-deprovision guard allows (20), so all of them are held before any system is touched;
// an operator's approval then deactivates exactly the 50 drifted leavers in each system, once
// each, as the simulators count, and verifies them by read-back. Orphans are reported, never touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const ACCOUNTS = 1_000;
const DRIFT = 50;
const ORPHANS = 50;
const PEOPLE = ACCOUNTS - ORPHANS;

let jml: TestSystem;
let token: string;
/** The planted accounts, by system: the leavers' (drift) and nobody's (orphans). */
const planted = { drift: { rocketchat: [] as string[], userapi: [] as string[] }, orphan: { rocketchat: [] as string[], userapi: [] as string[] } };

beforeAll(async () => {
  jml = await startTestSystem({
    // The user API's own limiter (a 42 s wait after a burst) is tested elsewhere; here it would only slow the 100 leavers.
    simulators: { rocketchat: { rateLimit: false }, userapi: { rateLimits: false } },
    env: { JML_RECONCILE_REMEDIATE: 'true', JML_RETRY_INITIAL_MS: '100', JML_GUARD_MAX_LEAVERS: '20', JML_GUARD_MIN_LEAVERS: '5', JML_GUARD_MAX_SHARE: '0.5' },
  });
  ({ token } = await createToken(jml.system.db, { name: 'proof-ops', kind: 'operator' }));
  const { rocketchat, userapi } = jml.simulators.simulators;
  // Every 19th person left (jml knows them inactive) while their accounts stayed active; the
  // orphans are spread through the listing, between the people's accounts.
  const leaver = (n: number) => n % 19 === 0 && n / 19 < DRIFT;
  await jml.system.db.identity.createMany({
    data: Array.from({ length: PEOPLE }, (_, n) => ({ userName: `p-${n}`, externalId: `p-emp-${n}`, active: !leaver(n), resource: {} })),
  });
  let person = 0;
  let orphan = 0;
  for (let index = 0; index < ACCOUNTS; index += 1) {
    if (index % 20 === 19 && orphan < ORPHANS) {
      planted.orphan.rocketchat.push(rocketchat.seedUser({ username: `orphan-${orphan}` })._id);
      planted.orphan.userapi.push(userapi.seedUser({ id: `orphan-emp-${orphan}` }).id);
      orphan += 1;
      continue;
    }
    const chat = rocketchat.seedUser({ username: `p-${person}` })._id;
    userapi.seedUser({ id: `p-emp-${person}` });
    if (leaver(person)) {
      planted.drift.rocketchat.push(chat);
      planted.drift.userapi.push(`p-emp-${person}`);
    }
    person += 1;
  }
  expect([planted.drift.rocketchat.length, planted.orphan.userapi.length]).toEqual([DRIFT, ORPHANS]);
});

afterAll(async () => {
  await jml.close();
});

function api(path: string, body?: unknown): Promise<Response> {
  return fetch(`${jml.system.url}/api${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

interface RunOutcome {
  system: string;
  status: string;
  runId: string;
  accounts: number;
  drift: number;
  orphans: number;
  disabledActive: number;
  remediated: number;
}

async function reconcileNow(): Promise<RunOutcome[]> {
  const asked = await api('/reconcile', {});
  expect(asked.status).toBe(202);
  const { workflowId } = (await asked.json()) as { workflowId: string };
  const outcomes = (await jml.resultOf(workflowId)) as unknown as Omit<RunOutcome, 'accounts'>[];
  // The workflow's outcome has the counts of findings; the run row has the accounts listed.
  const runs = await jml.database.query<{ id: string; accounts: number }>('SELECT id, accounts FROM reconcile_run WHERE id = ANY($1::uuid[])', [outcomes.map((outcome) => outcome.runId)]);
  return outcomes
    .map((outcome) => ({ ...outcome, accounts: runs.find((run) => run.id === outcome.runId)?.accounts ?? -1 }))
    .sort((a, b) => a.system.localeCompare(b.system));
}

async function findingsOf(runId: string, kind: string): Promise<string[]> {
  const rows = await jml.database.query<{ account_id: string }>('SELECT account_id FROM reconcile_finding WHERE run_id = $1 AND kind = $2 ORDER BY account_id', [runId, kind]);
  return rows.map((row) => row.account_id);
}

/** Deactivation writes each simulator received, per account. */
function writesPerAccount(): { rocketchat: Map<string, number>; userapi: Map<string, number> } {
  const { rocketchat, userapi } = jml.simulators.simulators;
  const count = (ids: string[]) => ids.reduce((map, id) => map.set(id, (map.get(id) ?? 0) + 1), new Map<string, number>());
  return {
    rocketchat: count(
      rocketchat
        .calls()
        .filter((call) => call.path === '/api/v1/users.setActiveStatus' && (call.body as { activeStatus?: boolean }).activeStatus === false)
        .map((call) => (call.body as { userId: string }).userId),
    ),
    userapi: count(
      userapi
        .calls()
        .filter((call) => call.method === 'POST' && call.path.endsWith('/deactivate'))
        .map((call) => decodeURIComponent(call.path.split('/')[3]!)),
    ),
  };
}

async function reconcileEvents(): Promise<{ status: string; system: string; target: string }[]> {
  return jml.database.query(
    `SELECT e.status::text AS status, t.system, t.status::text AS target FROM lifecycle_event e JOIN target_action t ON t.event_id = e.id WHERE e.actor LIKE 'reconcile:%'`,
  );
}

const sorted = (list: string[]) => [...list].sort();

describe('reconciliation of 1,000 accounts with 50 drifts and 50 orphans, remediation on, guard at 20', () => {
  it('finds exactly the planted ones, holds all 100 remediations, and after approval deactivates each drifted account once', async () => {
    const runs = await reconcileNow();
    expect(runs.map((run) => [run.system, run.status, run.accounts, run.drift, run.orphans, run.disabledActive, run.remediated])).toEqual([
      ['rocketchat', 'complete', ACCOUNTS, DRIFT, ORPHANS, 0, DRIFT],
      ['userapi', 'complete', ACCOUNTS, DRIFT, ORPHANS, 0, DRIFT],
    ]);
    for (const run of runs) {
      const system = run.system as 'rocketchat' | 'userapi';
      expect(await findingsOf(run.runId, 'drift'), `${system} drift`).toEqual(sorted(planted.drift[system]));
      expect(await findingsOf(run.runId, 'orphan'), `${system} orphans`).toEqual(sorted(planted.orphan[system]));
    }

    // The guard holds every one of them before any system is touched.
    await expect.poll(async () => (await reconcileEvents()).filter((event) => event.status === 'held').length, { timeout: 60_000, interval: 250 }).toBe(2 * DRIFT);
    expect(await reconcileEvents()).toHaveLength(2 * DRIFT);
    expect(writesPerAccount()).toEqual({ rocketchat: new Map(), userapi: new Map() });

    const approved = await api('/held/approve', {});
    expect(approved.status).toBe(200);
    expect(((await approved.json()) as { approved: unknown[] }).approved).toHaveLength(2 * DRIFT);
    await expect
      .poll(async () => (await reconcileEvents()).filter((event) => event.status === 'completed').length, { timeout: 240_000, interval: 500 })
      .toBe(2 * DRIFT);

    // Exactly the 50 drifted accounts per system, once each; nothing else was written to.
    const writes = writesPerAccount();
    for (const system of ['rocketchat', 'userapi'] as const) {
      expect(sorted([...writes[system].keys()]), `${system} accounts deactivated`).toEqual(sorted(planted.drift[system]));
      expect([...writes[system].values()].every((count) => count === 1), `${system} once each`).toBe(true);
    }
    expect((await reconcileEvents()).every((event) => event.target === 'verified')).toBe(true);
    const { rocketchat, userapi } = jml.simulators.simulators;
    const inactiveChat = new Set(rocketchat.users().filter((user) => !user.active).map((user) => user._id));
    expect(sorted([...inactiveChat])).toEqual(sorted(planted.drift.rocketchat));
    expect(sorted(userapi.users().filter((user) => !user.active).map((user) => user.id))).toEqual(sorted(planted.drift.userapi));

    // The next run finds no drift left, the same orphans, and remediates nothing.
    const again = await reconcileNow();
    expect(again.map((run) => [run.system, run.drift, run.orphans, run.remediated])).toEqual([
      ['rocketchat', 0, ORPHANS, 0],
      ['userapi', 0, ORPHANS, 0],
    ]);
    const after = writesPerAccount();
    expect([...after.rocketchat.values(), ...after.userapi.values()].reduce((sum, count) => sum + count, 0)).toBe(2 * DRIFT);
  }, 600_000);
});
