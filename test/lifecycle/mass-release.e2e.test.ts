// The mass-release lane (docs/decisions/048-mass-release-lane.md) against the real Temporal server,
// the real PostgreSQL and the simulators: an approval over the threshold runs as one workflow that
// pages through the leavers, deactivates each exactly once per system (a page retried after a
// failure sends nothing twice), writes every outcome and audit row the per-leaver path writes,
// leaves alone a leaver rehired after the approval, and waits out a vendor's 429.
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvidence, evidenceText } from '../../src/audit/evidence.js';
import { verifyChain } from '../../src/audit/verify.js';
import { approveAllHeld } from '../../src/lifecycle/operations.js';
import type { massReleaseWorkflow } from '../../workflows/mass-release.js';
import { integrated, RELEASED_LEAVER_AUDIT } from '../support/audit.js';
import { PATCH_OP } from '../support/scim-client.js';
import { provisionPerson, startTestSystem, waitUntil, type TestSystem } from '../support/system.js';

const GUARD = { JML_GUARD_MAX_LEAVERS: '2', JML_GUARD_MIN_LEAVERS: '1000', JML_MASS_RELEASE_THRESHOLD: '3', JML_RETRY_INITIAL_MS: '100', JML_RETRY_MAX_INTERVAL_MS: '500' };

type Person = Awaited<ReturnType<typeof provisionPerson>>;
interface Leaver {
  id: string;
  identity_id: string;
  status: string;
  workflow_id: string;
}

/** Provisions `count` people, deactivates them all at once, and waits until the guard has held the burst. */
async function heldBurst(jml: TestSystem, prefix: string, count: number): Promise<{ people: Person[]; held: Leaver[] }> {
  const people: Person[] = [];
  for (let n = 0; n < count; n++) people.push(await provisionPerson(jml, prefix, n));
  const answers = await Promise.all(people.map((person) => jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })));
  expect(answers.map((answer) => answer.status)).toEqual(people.map(() => 200));
  const leavers = () => jml.database.query<Leaver>(`SELECT id, identity_id, status::text, workflow_id FROM lifecycle_event WHERE kind = 'leaver' ORDER BY id`);
  const settled = await waitUntil(leavers, (rows) => rows.length === count && rows.every((row) => ['held', 'completed'].includes(row.status)), 60_000);
  const held = settled.filter((row) => row.status === 'held');
  expect(held.length).toBeGreaterThanOrEqual(count - 2);
  return { people, held };
}

/** Deactivations each simulator answered with success, per account. */
function deactivations(jml: TestSystem) {
  const { userapi, rocketchat, mendix } = jml.simulators.simulators;
  const ok = (status: number) => status >= 200 && status < 300;
  return {
    userapi: userapi.calls().filter((call) => call.method === 'POST' && call.path.endsWith('/deactivate') && ok(call.status)).map((call) => call.path.split('/')[3]!),
    rocketchat: rocketchat.calls().filter((call) => call.path.endsWith('users.setActiveStatus') && (call.body as { activeStatus?: boolean }).activeStatus === false && ok(call.status)),
    mendix: mendix.calls().filter((call) => call.method === 'PATCH' && ok(call.status)),
  };
}

/** The mass workflow's result, once the relay has started it (its row goes out with the next drain). */
async function massResult(jml: TestSystem, workflowId: string) {
  const handle = jml.system.client.workflow.getHandle<typeof massReleaseWorkflow>(workflowId);
  const started = async () => {
    try {
      await handle.describe();
      return true;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  };
  expect(await waitUntil(started, (found) => found, 60_000)).toBe(true);
  return handle.result();
}

describe('mass release', () => {
  let jml: TestSystem;

  beforeAll(async () => {
    jml = await startTestSystem({ env: GUARD });
  });

  afterAll(async () => {
    await jml.close();
  });

  it('runs an approval over the threshold as one workflow: one deactivation per system per leaver, a page retried sends none twice, a rehire after the approval is respected', async () => {
    const { people, held } = await heldBurst(jml, 'mass', 8);
    const personOf = (row: Leaver) => people.find((person) => person.id === row.identity_id)!;
    // In id order, as the workflow pages: the first page's user API call for `stuck` fails until
    // the fault is cleared, so the page is retried while the later pages have not begun.
    const stuck = personOf(held[0]!);
    const rehired = held.at(-1)!;
    const userapi = jml.simulators.simulators.userapi;
    userapi.setFaults({ statusByAccount: { [stuck.externalId]: 503 } });

    const { approved, massReleaseWorkflowId } = await approveAllHeld(jml.system.db, { by: 'alice', massReleaseThreshold: 3, massReleasePaging: { pageSize: 2, pagesPerRun: 2 } });
    expect(approved).toHaveLength(held.length);
    expect(massReleaseWorkflowId).toMatch(/^mass-release-/);
    jml.system.relay?.kick();

    // The page was tried, its other account deactivated, and it failed on `stuck`.
    const failedAttempts = () => jml.database.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM audit_event WHERE event_id = $1 AND action = 'target.deactivate.attempt_failed' AND system = 'userapi'`, [held[0]!.id]);
    expect((await waitUntil(failedAttempts, (rows) => rows[0]!.count >= 2, 60_000))[0]!.count).toBeGreaterThanOrEqual(2);
    const [rehiredBefore] = await jml.database.query<{ status: string }>(`SELECT status::text FROM lifecycle_event WHERE id = $1`, [rehired.id]);
    expect(rehiredBefore!.status).toBe('pending');
    expect((await jml.scim.patch(`/Users/${rehired.identity_id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] })).status).toBe(200);
    userapi.setFaults({});

    const result = await massResult(jml, massReleaseWorkflowId!);
    expect(result.begun).toBe(held.length - 1);
    // The rehired leaver's own workflow starts only to find it cancelled (decision 023).
    expect((await jml.resultOf(rehired.workflow_id)).every((outcome) => outcome.status === 'cancelled')).toBe(true);

    const released = held.filter((row) => row !== rehired);
    // No per-leaver workflow ran for the released ones: the mass workflow did their work.
    for (const row of released) await expect(jml.system.client.workflow.getHandle(row.workflow_id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const events = await jml.database.query<{ id: string; status: string }>(`SELECT id, status::text FROM lifecycle_event WHERE id = ANY($1::uuid[]) ORDER BY id`, [held.map((row) => row.id)]);
    expect(events.map((row) => row.status)).toEqual(held.map((row) => (row === rehired ? 'cancelled' : 'completed')));
    const targets = await jml.database.query<{ system: string; status: string }>(
      `SELECT system, status::text FROM target_action WHERE event_id = ANY($1::uuid[]) ORDER BY system`, [released.map((row) => row.id)]);
    expect(targets.filter((target) => target.status !== (target.system === 'mendix' ? 'succeeded' : 'verified'))).toEqual([]);
    expect(targets).toHaveLength(released.length * 3);

    // Exactly one deactivation per system per leaver, counted where they arrive.
    const sent = deactivations(jml);
    const all = [...people].filter((person) => person.id !== rehired.identity_id);
    expect([...sent.userapi].sort()).toEqual(all.map((person) => person.externalId).sort());
    expect(sent.rocketchat).toHaveLength(all.length);
    expect(sent.mendix).toHaveLength(all.length);
    expect(jml.simulators.simulators.rocketchat.users().filter((user) => !user.active).map((user) => user.username).sort()).toEqual(all.map((person) => person.userName).sort());
    expect(userapi.users().find((user) => user.id === personOf(rehired).externalId)?.active).toBe(true);

    // Each person's evidence is what the per-leaver path writes: every row, once (`stuck` adds its failed attempts).
    for (const row of released) {
      const audit = await jml.database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 AND action <> 'target.deactivate.attempt_failed' ORDER BY action`, [row.id]);
      expect(audit.map((entry) => entry.action)).toEqual(RELEASED_LEAVER_AUDIT);
    }
    // Each released person's evidence names the workflow and the page (in id order, two a page,
    // two pages a run: pages 3 and 4 come from the run continued as new).
    for (const [index, row] of held.entries()) {
      const report = await buildEvidence(jml.system.db, personOf(row).userName);
      const event = report.people[0]!.events.find((candidate) => candidate.id === row.id)!;
      if (row === rehired) {
        expect(event.massRelease).toBeNull();
        continue;
      }
      const page = Math.floor(index / 2) + 1;
      expect(event.massRelease).toEqual({ workflowId: massReleaseWorkflowId, page });
      expect(evidenceText(report)).toContain(`released in a mass release: workflow ${massReleaseWorkflowId}, page ${page} acted on it`);
    }
    const [release] = await jml.database.query<{ actor: string; data: { workflowId: string; events: number } }>(`SELECT actor, data FROM audit_event WHERE action = 'operator.mass_release'`);
    expect(release?.actor).toBe('alice');
    expect(release?.data).toMatchObject({ workflowId: massReleaseWorkflowId, events: held.length });
    // Everything the relay had is delivered: nothing waits in the outbox.
    await waitUntil(() => jml.database.query(`SELECT id FROM outbox WHERE dispatched_at IS NULL`), (rows) => rows.length === 0);
    expect(await jml.database.query(`SELECT id, workflow_id, signal FROM outbox WHERE dispatched_at IS NULL`)).toEqual([]);
    expect((await verifyChain(await integrated(jml.system.db))).ok).toBe(true);
  });
});

describe('mass release under a vendor rate limit', () => {
  let jml: TestSystem;

  beforeAll(async () => {
    // The user API answers 429 past one call a second, with Retry-After (its documented limit, much smaller).
    jml = await startTestSystem({ env: GUARD, simulators: { userapi: { rateLimits: [{ limit: 1, windowMs: 1000 }] } } });
  });

  afterAll(async () => {
    await jml.close();
  });

  it('waits out a 429 and still deactivates each leaver once', async () => {
    const { people, held } = await heldBurst(jml, 'limited', 6);
    const { massReleaseWorkflowId } = await approveAllHeld(jml.system.db, { by: 'alice', massReleaseThreshold: 3 });
    jml.system.relay?.kick();
    const result = await massResult(jml, massReleaseWorkflowId!);
    expect(result.begun).toBe(held.length);

    // jml is configured with no rate here, so the page's deactivations go out together (10 at a
    // time): all but one meet the limit. Each 429 pauses the user API's shared pace until the hint
    // (Retry-After, at least a second; decision 064): the same account is not called again sooner.
    const calls = jml.simulators.simulators.userapi.calls().filter((call) => call.method === 'POST' && call.path.endsWith('/deactivate'));
    const refused = calls.filter((call) => call.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    for (const call of refused) {
      const next = calls.find((later) => later.path === call.path && later.at > call.at);
      expect(next).toBeDefined();
      expect(next!.at - call.at).toBeGreaterThanOrEqual(1000);
    }
    // Every refused call is a failed attempt on record: a refused deactivation on the pending
    // target, a refused read-back (the read after an accepted deactivation) on the accepted one.
    const limited = await jml.database.query<{ phase: string; count: number }>(
      `SELECT coalesce(data->>'phase', 'write') AS phase, count(*)::int AS count FROM audit_event
       WHERE action = 'target.deactivate.attempt_failed' AND system = 'userapi' AND (data->>'status')::int = 429 GROUP BY 1`);
    const accounts = new Set(people.map((person) => `/v1/users/${person.externalId}`));
    const refusedReads = jml.simulators.simulators.userapi.calls().filter((call) => call.method === 'GET' && accounts.has(call.path) && call.status === 429);
    expect(Object.fromEntries(limited.map((row) => [row.phase, row.count]))).toEqual({
      write: refused.length,
      ...(refusedReads.length > 0 ? { read_back: refusedReads.length } : {}),
    });
    const targets = await jml.database.query<{ status: string }>(`SELECT status::text FROM target_action WHERE event_id = ANY($1::uuid[]) AND system = 'userapi'`, [held.map((row) => row.id)]);
    expect(targets.map((target) => target.status)).toEqual(held.map(() => 'verified'));
    const once = new Map<string, number>();
    for (const account of deactivations(jml).userapi) once.set(account, (once.get(account) ?? 0) + 1);
    expect([...once.values()].every((count) => count === 1)).toBe(true);
    expect([...once.keys()].sort()).toEqual(people.map((person) => person.externalId).sort());
  });
});
