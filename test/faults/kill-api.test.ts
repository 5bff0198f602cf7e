// A SCIM request that got a 2xx is never lost, even when jml is killed (SIGKILL) while requests
// are in flight: after a restart, every acknowledged leaver is deactivated exactly once in each
// system, and nothing is left pending.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExactlyOnce, prepareFaultRun, seedPeople, sendLeavers, startJmlProcess, waitUntilSettled, type FaultRun, type JmlProcess } from './support.js';

const PEOPLE = 150;

let run: FaultRun;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('api');
});

afterAll(async () => {
  await jml?.stop();
  await run.close();
});

describe('kill -9 of the API process', () => {
  it('loses no acknowledged leaver and acts on none twice', async () => {
    jml = await startJmlProcess(run.env);
    const people = await seedPeople(jml.url, run.simulators, 'crash', PEOPLE);

    // Deactivate everyone, 16 at a time, and kill jml once a third have been answered.
    const killAfter = Math.floor(PEOPLE / 3);
    let answered = 0;
    let killing: Promise<void> | undefined;
    const acknowledged = await sendLeavers(jml.url, people, {
      onAnswer: () => {
        if (++answered === killAfter) killing = jml!.kill();
      },
    });
    await killing;
    expect(acknowledged.size).toBeGreaterThanOrEqual(killAfter - 16);
    expect(acknowledged.size).toBeLessThan(PEOPLE);

    // Restart on the same database and Temporal server; the relay starts what the crash left.
    jml = await startJmlProcess(run.env);
    await waitUntilSettled(run.database.query, 120_000);
    await expectExactlyOnce(run.database.query, run.simulators, acknowledged);
  });
});
