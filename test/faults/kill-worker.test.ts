// A worker killed (SIGKILL) in the middle of a 1,000-leaver burst loses nothing and repeats
// nothing: jml runs as an API process and a separate worker process; the worker dies while
// workflows and downstream calls are in flight, a new worker takes over, and every acknowledged
// leaver is deactivated exactly once in each system with nothing left pending.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectExactlyOnce,
  prepareFaultRun,
  seedPeople,
  sendLeavers,
  startJmlProcess,
  succeededActions,
  waitFor,
  waitUntilSettled,
  type FaultRun,
  type JmlProcess,
} from './support.js';

const PEOPLE = 1000;
const SYSTEMS = 3;

let run: FaultRun;
let api: JmlProcess | undefined;
let worker: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('worker');
});

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await run.close();
});

describe('kill -9 of the worker process', () => {
  it('loses no acknowledged leaver and acts on none twice', async () => {
    const { database, simulators, env } = run;
    [api, worker] = await Promise.all([startJmlProcess(env, 'api'), startJmlProcess(env, 'worker')]);
    const people = await seedPeople(api.url, simulators, 'worker', PEOPLE);

    // The burst runs on while the worker is killed and replaced: the API process stays up.
    const burst = sendLeavers(api.url, people);

    // Kill once a tenth of the downstream actions are done: well inside the run.
    const total = PEOPLE * SYSTEMS;
    await waitFor(async () => (await succeededActions(database.query)) >= total / 10, 120_000);
    await worker.kill();
    const doneAtKill = await succeededActions(database.query);
    // Leavers not finished yet (their workflows started or about to): on the lean path an event is
    // 'running' only while its targets are acted on (decisions 055, 067), often too short a window to
    // sample (CI found none at the kill once; here once before 067 too): every open leaver counts.
    const [running] = await database.query<{ count: string }>(`SELECT count(*) FROM lifecycle_event WHERE kind = 'leaver' AND status IN ('pending', 'running')`);
    worker = await startJmlProcess(env, 'worker');

    const acknowledged = await burst;
    // The kill landed mid-run: some actions were done, others not yet, and leavers were still open.
    expect(doneAtKill).toBeGreaterThan(0);
    expect(doneAtKill).toBeLessThan(total);
    expect(Number(running!.count)).toBeGreaterThan(0);
    // The API never went down: every leaver was acknowledged.
    expect(acknowledged.size).toBe(PEOPLE);

    await waitUntilSettled(database.query, 240_000);
    expect(api.alive(), api.output()).toBe(true);
    await expectExactlyOnce(database.query, simulators, acknowledged);
  });
});
