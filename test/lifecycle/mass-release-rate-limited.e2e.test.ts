// The mass-release lane under every vendor's rate limit (issue 13, docs/decisions/064): each
// simulator allows RATE calls a second, counted as its vendor counts them (Rocket.Chat per
// endpoint, the user API per key, Mendix per token), and jml is configured to the same rate. The
// lane's pages share one pace per vendor count with each other and with the per-leaver activities,
// so the vendors answer almost no 429, and the few they do are waited out inside the page's
// attempt: every leaver is released with exactly one deactivation per system, no page needs more
// than a second attempt. Counts, not timings: what the simulators answered and what jml recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveAllHeld } from '../../src/lifecycle/operations.js';
import type { massReleaseWorkflow } from '../../workflows/mass-release.js';
import { PATCH_OP } from '../support/scim-client.js';
import { provisionPerson, startTestSystem, waitUntil, type TestSystem } from '../support/system.js';

const RATE = 5;
const LEAVERS = 20;
/** 429s a vendor may answer in the whole run: fixed windows and calls paced at exactly their limit still meet at a window's edge now and then. */
const MAX_REFUSALS_PER_SYSTEM = 3;

const window = { limit: RATE, windowMs: 1000 };
const ENV = {
  JML_GUARD_MAX_LEAVERS: '2',
  JML_GUARD_MIN_LEAVERS: '1000',
  JML_MASS_RELEASE_THRESHOLD: '3',
  JML_RETRY_INITIAL_MS: '100',
  JML_RETRY_MAX_INTERVAL_MS: '500',
  JML_RATE_LIMIT_ROCKETCHAT: String(RATE),
  JML_RATE_LIMIT_MENDIX: String(RATE),
  JML_RATE_LIMIT_USERAPI: String(RATE),
};

describe('mass release under every vendor rate limit', () => {
  let jml: TestSystem;

  beforeAll(async () => {
    jml = await startTestSystem({ env: ENV, simulators: { rocketchat: { rateLimit: window }, mendix: { rateLimit: window }, userapi: { rateLimits: [window] } } });
  });

  afterAll(async () => {
    await jml.close();
  });

  it('releases every leaver once per system, with few 429s and no page past its second attempt', async () => {
    const people = [];
    for (let n = 0; n < LEAVERS; n++) people.push(await provisionPerson(jml, 'paced', n));
    const answers = await Promise.all(people.map((person) => jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })));
    expect(answers.map((answer) => answer.status)).toEqual(people.map(() => 200));
    const leavers = () => jml.database.query<{ id: string; status: string }>(`SELECT id, status::text FROM lifecycle_event WHERE kind = 'leaver' ORDER BY id`);
    const settled = await waitUntil(leavers, (rows) => rows.length === LEAVERS && rows.every((row) => ['held', 'completed'].includes(row.status)), 60_000);
    const held = settled.filter((row) => row.status === 'held');
    expect(held.length).toBeGreaterThanOrEqual(LEAVERS - 2);

    // Pages of five: two pages a run, so pages of one system follow each other across a continue-as-new too.
    const { massReleaseWorkflowId } = await approveAllHeld(jml.system.db, { by: 'alice', massReleaseThreshold: 3, massReleasePaging: { pageSize: 5, pagesPerRun: 2 } });
    expect(massReleaseWorkflowId).toMatch(/^mass-release-/);
    jml.system.relay?.kick();
    const handle = jml.system.client.workflow.getHandle<typeof massReleaseWorkflow>(massReleaseWorkflowId!);
    await waitUntil(() => handle.describe().then(() => true, () => false), (found) => found, 60_000);
    expect((await handle.result()).begun).toBe(held.length);

    const events = await jml.database.query<{ status: string }>(`SELECT status::text FROM lifecycle_event WHERE kind = 'leaver'`);
    expect(events.map((row) => row.status)).toEqual(people.map(() => 'completed'));
    const targets = await jml.database.query<{ system: string; status: string }>(`SELECT system, status::text FROM target_action`);
    expect(targets.filter((target) => target.status !== (target.system === 'mendix' ? 'succeeded' : 'verified'))).toEqual([]);
    expect(targets).toHaveLength(LEAVERS * 3);

    // Exactly one accepted deactivation per system per leaver, counted where they arrive.
    const { userapi, rocketchat, mendix } = jml.simulators.simulators;
    const ok = (status: number) => status >= 200 && status < 300;
    const deactivated = {
      userapi: userapi.calls().filter((call) => call.method === 'POST' && call.path.endsWith('/deactivate') && ok(call.status)).map((call) => call.path),
      rocketchat: rocketchat.calls().filter((call) => call.path.endsWith('users.setActiveStatus') && (call.body as { activeStatus?: boolean }).activeStatus === false && ok(call.status)).map((call) => (call.body as { userId: string }).userId),
      mendix: mendix.calls().filter((call) => call.method === 'PATCH' && ok(call.status)).map((call) => call.path),
    };
    for (const accounts of Object.values(deactivated)) {
      expect(accounts).toHaveLength(LEAVERS);
      expect(new Set(accounts).size).toBe(LEAVERS);
    }

    // The vendors' own count of refusals: the lane calls them at their limit, not past it.
    const refusals = { userapi: userapi.calls(), rocketchat: rocketchat.calls(), mendix: mendix.calls() };
    const refused = Object.fromEntries(Object.entries(refusals).map(([system, calls]) => [system, calls.filter((call) => call.status === 429).length]));
    for (const count of Object.values(refused)) expect(count).toBeLessThanOrEqual(MAX_REFUSALS_PER_SYSTEM);

    // Calls per leaver as each vendor counts them (decision 066): one per leaver and count, and a
    // call a page for what a page does together (Mendix's lookup of many addresses, a listing for
    // the read-backs). Before, two: the user API's POST and its read-back GET, Rocket.Chat's
    // users.info lookup and read-back, Mendix's uuid lookup and PATCH. The leavers released one
    // by one before the guard held the rest still make two.
    const answered = (calls: { status: number; path: string }[], path?: string) => calls.filter((call) => call.status !== 429 && (path === undefined || call.path.includes(path))).length;
    const perCount = {
      userapi: answered(userapi.calls()),
      'rocketchat users.info': answered(rocketchat.calls(), 'users.info'),
      mendix: answered(mendix.calls()),
    };
    for (const calls of Object.values(perCount)) expect(calls).toBeLessThanOrEqual(LEAVERS * 1.5);
    // Each read-back by listing showed the account inactive in the vendor's own answer.
    const listed = await jml.database.query<{ system: string; count: number }>(
      `SELECT system::text AS system, count(*)::int AS count FROM audit_event
       WHERE action = 'target.deactivate.verified' AND data->>'readBy' = 'listing' AND (data->'read'->>'active')::boolean = false GROUP BY system ORDER BY system`,
    );
    expect(listed.map((row) => row.system)).toEqual(['rocketchat', 'userapi']);
    for (const row of listed) expect(row.count).toBeGreaterThanOrEqual(held.length - 2);

    // Every outcome and failed attempt names the activity attempt it happened in: a page waits
    // out a 429 within its attempt instead of failing it.
    const [attempts] = await jml.database.query<{ max: number }>(
      `SELECT max((data->>'attempt')::int)::int AS max FROM audit_event WHERE event_id = ANY($1::uuid[]) AND action LIKE 'target.deactivate.%' AND data ? 'attempt'`,
      [held.map((row) => row.id)],
    );
    expect(attempts!.max).toBeLessThanOrEqual(2);
  });
});
