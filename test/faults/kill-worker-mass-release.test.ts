// A worker killed (SIGKILL) in the middle of a mass-release page (docs/decisions/048) loses nothing
// and repeats nothing: 300 leavers held by the guard are approved as one release over
// JML_MASS_RELEASE_THRESHOLD, the worker dies while a page's activity waits on a user API
// deactivation the simulator holds open, a new worker takes the page over, and every leaver is
// deactivated exactly once per system, finished, with the per-leaver path's audit rows, and
// `jml audit verify` passes.
//
// Why the assertion can fail: the held deactivation is performed by the vendor after the worker
// died, so jml never learnt of it and the retried page sends it again (the test checks that it
// did). Only the idempotency-ref makes that repeat the same operation: the test requires every
// deactivation the user API received for a leaver to carry that leaver's per-target key
// (idempotencyKeyFor, as the per-leaver path sends it). A page that sent no key, or a key of its
// own (say one naming the page or the attempt), would show the user API two different operations
// for that account and fail here, even though its state (already inactive) would hide it.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyKeyFor } from '../../src/activities/target-action.js';
import { RELEASED_LEAVER_AUDIT } from '../support/audit.js';
import {
  expectExactlyOnce,
  prepareFaultRun,
  seedPeople,
  sendLeavers,
  startJmlProcess,
  waitFor,
  waitUntilSettled,
  type FaultRun,
  type JmlProcess,
} from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PEOPLE = 300;
const THRESHOLD = 20;
/** The guard trips past this many leavers (its share rule kept out of the way): the rest are held. */
const GUARD = { JML_GUARD_ENABLED: 'true', JML_GUARD_MAX_LEAVERS: '2', JML_GUARD_MIN_LEAVERS: '100000', JML_MASS_RELEASE_THRESHOLD: String(THRESHOLD) };

let run: FaultRun;
let api: JmlProcess | undefined;
let worker: JmlProcess | undefined;

/** `jml <args>` as an operator runs it, against the run's database; its exit code and output. */
function jmlCommand(env: Record<string, string>, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, ...env, JML_SKIP_BOOTSTRAP: '1', LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

beforeAll(async () => {
  run = await prepareFaultRun('masskill');
  run.env = { ...run.env, ...GUARD };
});

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await run.close();
});

describe('kill -9 of the worker in the middle of a mass-release page', () => {
  it('deactivates each leaver once per system, by its own idempotency key, and finishes every event', async () => {
    const { database, simulators, env } = run;
    const userapi = simulators.simulators.userapi;
    [api, worker] = await Promise.all([startJmlProcess(env, 'api'), startJmlProcess(env, 'worker')]);
    const people = await seedPeople(api.url, simulators, 'masskill', PEOPLE);
    const acknowledged = await sendLeavers(api.url, people);
    expect(acknowledged.size).toBe(PEOPLE);
    const counts = () => database.query<{ status: string; count: number }>(`SELECT status::text, count(*)::int AS count FROM lifecycle_event WHERE kind = 'leaver' GROUP BY 1`);
    const byStatus = async () => Object.fromEntries((await counts()).map((row) => [row.status, row.count]));
    await waitFor(async () => {
      const now = await byStatus();
      return (now.held ?? 0) + (now.completed ?? 0) === PEOPLE;
    }, 120_000);
    const heldCount = (await byStatus()).held ?? 0;
    expect(heldCount).toBeGreaterThan(THRESHOLD);

    const approval = await jmlCommand(env, ['events', 'approve', '--all-held', '--as', 'alice']);
    expect(approval.code, approval.output).toBe(0);
    // Should this ever fail again (it did once in CI, not since in 9 runs here, under load too),
    // the message says where the held leavers' start rows were: a mass release needs them unsent
    // and marked 'held' by the relay (decision 023).
    const massReleased = /Released as one mass release: workflow mass-release-/.test(approval.output);
    const startRows = massReleased
      ? []
      : await database.query<{ signal: string | null; sent: boolean; count: number }>(
          `SELECT o.signal, o.dispatched_at IS NOT NULL AS sent, count(*)::int AS count FROM outbox o
           JOIN lifecycle_event e ON e.workflow_id = o.workflow_id AND e.kind = 'leaver' WHERE o.kind = 'start' GROUP BY 1, 2`,
        );
    expect(massReleased, `no mass release; the leavers' start rows now: ${JSON.stringify(startRows)}; held before: ${heldCount}; ${approval.output.slice(-400)}`).toBe(true);

    // Into the second page (50 leavers each), hold the next user API deactivation open: the page's
    // activity waits on it. Then kill the worker, and let the vendor perform the held call.
    const deactivatedBefore = await waitFor(() => Promise.resolve(userapi.actions().length >= 60), 180_000).then(() => userapi.actions().length);
    expect(deactivatedBefore).toBeGreaterThanOrEqual(60);
    const hold = userapi.holdNextAction();
    await hold.reached;
    await worker.kill();
    const atKill = userapi.actions().length;
    const [running] = await database.query<{ count: number }>(`SELECT count(*)::int AS count FROM lifecycle_event WHERE kind = 'leaver' AND status = 'running'`);
    hold.release();
    await waitFor(() => Promise.resolve(userapi.actions().length > atKill), 10_000, 50);
    worker = await startJmlProcess(env, 'worker');

    // The kill landed inside the release: some deactivations done, others not, a page begun.
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(heldCount);
    expect(running!.count).toBeGreaterThan(0);

    await waitUntilSettled(database.query, 240_000);
    expect(api.alive(), api.output()).toBe(true);
    await expectExactlyOnce(database.query, simulators, acknowledged);

    // Every deactivation the user API received for a leaver carried that leaver's own key; the
    // held one, performed after the kill, was sent again by the retried page and replayed.
    const events = await database.query<{ id: string; external_id: string }>(
      `SELECT e.id::text, i.external_id FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE e.kind = 'leaver'`);
    const keyOf = new Map(events.map((event) => [event.external_id, idempotencyKeyFor({ eventId: event.id, system: 'userapi', action: 'deactivate' })]));
    const sent = userapi.calls().filter((call) => call.method === 'POST' && call.path.endsWith('/deactivate'));
    const wrongKeys = sent.filter((call) => call.headers['idempotency-ref'] !== keyOf.get(decodeURIComponent(call.path.split('/')[3]!)));
    expect(wrongKeys.map((call) => `${call.path} ${call.headers['idempotency-ref'] ?? 'no key'}`)).toEqual([]);
    const callsPerAccount = new Map<string, number>();
    for (const call of sent) callsPerAccount.set(call.path, (callsPerAccount.get(call.path) ?? 0) + 1);
    expect([...callsPerAccount.values()].some((count) => count >= 2)).toBe(true);

    // Each released person's audit rows are the per-leaver path's, every row once.
    const released = await database.query<{ id: string; actions: string[] }>(
      `SELECT e.id::text, array_agg(a.action) AS actions FROM lifecycle_event e JOIN audit_event a ON a.event_id = e.id
        WHERE e.kind = 'leaver' AND a.action <> 'target.deactivate.attempt_failed'
          AND EXISTS (SELECT 1 FROM audit_event h WHERE h.event_id = e.id AND h.action = 'lifecycle.leaver.held')
        GROUP BY e.id`);
    expect(released).toHaveLength(heldCount);
    expect(released.filter((event) => JSON.stringify([...event.actions].sort()) !== JSON.stringify(RELEASED_LEAVER_AUDIT))).toEqual([]);
    const [release] = await database.query<{ data: { events: number } }>(`SELECT data FROM audit_event WHERE action = 'operator.mass_release'`);
    expect(release?.data.events).toBe(heldCount);

    const verified = await jmlCommand(env, ['audit', 'verify']);
    expect(verified.code, verified.output).toBe(0);
  });
});
