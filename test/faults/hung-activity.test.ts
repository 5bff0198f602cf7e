// A downstream system that never answers (the user API's simulator holds every call open) is
// bounded three ways, and the leavers still complete exactly once:
// 1. the shutdown deadline (decision 046): a worker told to stop (SIGTERM) while its activities
//    wait on the hung calls exits on its own once JML_SHUTDOWN_TIMEOUT_MS passes, with code 1 and
//    the line that says why, although the calls would hold it for 300 s (its connector timeout);
// 2. the activity's heartbeat timeout: the attempts that died with that worker are retried by the
//    next one (their first recorded attempt is the second or later), without anyone's help;
// 3. the connector's timeout (JML_CONNECTOR_TIMEOUT_MS): on the new worker a call that still
//    hangs is given up and retried, recorded with "no answer within".
// Then the system answers again and each leaver is deactivated exactly once in every system.
//
// Under load (load average 20 on 2 cores) nothing here may depend on speed: every step waits for a
// state (calls held, targets settled, errors recorded) with limits far above what it takes, and
// the one time measured is a lower bound (the worker drained for the whole deadline, not less). The
// hang outlasts the deadline by construction (300 s against 5 s), so the exit code cannot depend on
// when SIGTERM lands; a connector timeout near the deadline would make it a race (the attempt could
// fail on its own just before the deadline, and the worker exit 0).
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHUTDOWN_TIMED_OUT_EXIT_CODE } from '../../src/cli/shutdown.js';
import { expectExactlyOnce, prepareFaultRun, seedPeople, sendLeavers, startJmlProcess, waitFor, waitUntilSettled, type FaultRun, type JmlProcess } from './support.js';

const PEOPLE = 3;
const DEADLINE_MS = 5000;
/** Longer than anything in this test: a held call never ends by this timeout on the first worker. */
const HUNG_CONNECTOR_TIMEOUT_MS = 300_000;
/** The second worker gives up on a held call quickly, so the test sees the timeout do it. */
const SHORT_CONNECTOR_TIMEOUT_MS = 3000;

let run: FaultRun;
let api: JmlProcess | undefined;
let worker: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('hung');
});

afterAll(async () => {
  // SIGKILL: a worker still holding hung calls would otherwise wait out its deadline here.
  await worker?.kill();
  await api?.stop();
  await run.close();
});

const count = async (query: FaultRun['database']['query'], sql: string): Promise<number> => Number((await query<{ count: string }>(sql))[0]!.count);

describe('a downstream call that never answers', () => {
  it('is bounded by the shutdown deadline, the heartbeat and the connector timeout; the leavers then complete exactly once', async () => {
    const { database, simulators, env } = run;
    const { query } = database;
    const userApi = simulators.simulators.userapi;
    [api, worker] = await Promise.all([
      startJmlProcess(env, 'api'),
      startJmlProcess({ ...env, JML_CONNECTOR_TIMEOUT_MS: String(HUNG_CONNECTOR_TIMEOUT_MS), JML_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS) }, 'worker'),
    ]);
    const people = await seedPeople(api.url, simulators, 'hung', PEOPLE);
    userApi.setFaults({ hang: true });

    const acknowledged = await sendLeavers(api.url, people);
    expect(acknowledged.size).toBe(PEOPLE);

    // The state to stop in: the other two systems done, and every user API call held open.
    const otherSystemsDone = () => count(query, `SELECT count(*) FROM target_action WHERE system <> 'userapi' AND status IN ('succeeded', 'verified')`);
    await waitFor(async () => userApi.heldCalls() >= PEOPLE && (await otherSystemsDone()) === PEOPLE * 2, 240_000);
    // At least: a slow machine may let an attempt pass its one-minute limit, and its retry hang too.
    expect(userApi.heldCalls()).toBeGreaterThanOrEqual(PEOPLE);
    expect(await otherSystemsDone()).toBe(PEOPLE * 2);
    expect(await count(query, `SELECT count(*) FROM target_action WHERE system = 'userapi' AND status IN ('succeeded', 'verified')`)).toBe(0);

    // 1. SIGTERM while the activities hang: the worker exits by its deadline, saying why.
    const stopping = worker;
    const exited = once(stopping.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const signalledAt = Date.now();
    stopping.child.kill('SIGTERM');
    // A liveness limit, not a speed assertion: without the deadline the held calls keep the worker
    // for HUNG_CONNECTOR_TIMEOUT_MS, far beyond it.
    const exit = await Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 150_000).unref())]);
    expect(exit, stopping.output()).not.toBe('still running');
    const [code] = exit as [number | null, NodeJS.Signals | null];
    expect(code, stopping.output()).toBe(SHUTDOWN_TIMED_OUT_EXIT_CODE);
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
    expect(stopping.output()).toContain(`shutdown did not finish within ${DEADLINE_MS} ms (JML_SHUTDOWN_TIMEOUT_MS)`);
    // Its connections closed with it: the simulator holds nothing for a dead worker.
    await waitFor(() => Promise.resolve(userApi.heldCalls() === 0), 60_000);
    expect(userApi.heldCalls()).toBe(0);
    expect(await count(query, `SELECT count(*) FROM target_action WHERE system = 'userapi' AND status IN ('succeeded', 'verified')`)).toBe(0);

    // 2 and 3. A new worker, the system still hung: Temporal retries the dead worker's attempts once
    // their heartbeat stops, and this worker's connector gives up on each held call.
    worker = await startJmlProcess({ ...env, JML_CONNECTOR_TIMEOUT_MS: String(SHORT_CONNECTOR_TIMEOUT_MS) }, 'worker');
    const timedOut = () => count(query, `SELECT count(*) FROM target_action WHERE system = 'userapi' AND last_error LIKE '%no answer within ${SHORT_CONNECTOR_TIMEOUT_MS} ms%'`);
    await waitFor(async () => (await timedOut()) === PEOPLE, 300_000);
    expect(await timedOut(), worker.output()).toBe(PEOPLE);
    const firstRecorded = await query<{ attempt: number }>(
      `SELECT min((data->>'attempt')::int) AS attempt FROM audit_event WHERE system = 'userapi' AND action = 'target.deactivate.attempt_failed' GROUP BY event_id`,
    );
    expect(firstRecorded).toHaveLength(PEOPLE);
    // Attempt 1 hung on the first worker and left no record: Temporal ended it, not the worker.
    expect(firstRecorded.filter((row) => row.attempt < 2)).toEqual([]);

    // The system answers again: every leaver completes, each account deactivated exactly once.
    userApi.setFaults({});
    await waitUntilSettled(query, 300_000);
    await expectExactlyOnce(query, simulators, acknowledged);
    expect(api.alive(), api.output()).toBe(true);
  });
});
