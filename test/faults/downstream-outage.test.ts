// All three downstream systems answer 503 for minutes, longer than the retry backoff's cap, in
// the middle of a leaver burst: jml keeps retrying (nothing gives up before the retry deadline),
// and once the systems are back every acknowledged leaver is deactivated exactly once in each.
import { setTimeout as sleep } from 'node:timers/promises';
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

const PEOPLE = 150;
const SYSTEMS = ['rocketchat', 'mendix', 'userapi'] as const;
/** The backoff's cap here; the outage lasts several times longer, so retries run at the cap. */
const RETRY_CAP_MS = 20_000;
const OUTAGE_MS = 120_000;

let run: FaultRun;
let env: Record<string, string>;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('downstream');
  env = {
    ...run.env,
    JML_RETRY_MAX_INTERVAL_MS: String(RETRY_CAP_MS),
    // Far beyond the outage: no target may give up and need attention.
    JML_RETRY_DEADLINE_MS: String(60 * 60 * 1000),
  };
});

afterAll(async () => {
  await jml?.stop();
  await run.close();
});

describe('a downstream outage lasting minutes', () => {
  it('retries through it and completes every acknowledged leaver exactly once', async () => {
    const { database, simulators } = run;
    jml = await startJmlProcess(env);
    const people = await seedPeople(jml.url, simulators, 'outage', PEOPLE);
    const total = PEOPLE * SYSTEMS.length;

    const burst = sendLeavers(jml.url, people);
    await waitFor(async () => (await succeededActions(database.query)) >= total / 10, 120_000);
    const outageUntil = Date.now() + OUTAGE_MS;
    for (const system of SYSTEMS) simulators.simulators[system].setFaults({ outageUntil });
    const doneAtOutage = await succeededActions(database.query);
    const acknowledged = await burst;
    await sleep(outageUntil - Date.now());

    expect(acknowledged.size).toBe(PEOPLE);
    expect(doneAtOutage).toBeGreaterThan(0);
    expect(doneAtOutage).toBeLessThan(total);

    await waitUntilSettled(database.query, 240_000);
    expect(jml.alive(), jml.output()).toBe(true);
    await expectExactlyOnce(database.query, simulators, acknowledged);

    // Each system was retried through the outage: it refused calls, and targets were attempted
    // again and again, more often than a backoff capped at RETRY_CAP_MS allows in the outage alone.
    for (const system of SYSTEMS) {
      const refused = simulators.simulators[system].calls().filter((call) => call.status === 503).length;
      expect(refused, system).toBeGreaterThan(0);
    }
    expect(simulators.simulators.userapi.calls().length).toBeGreaterThan(simulators.simulators.userapi.actions().length);
    const [retried] = await database.query<{ count: string; most: number }>(`SELECT count(*) FILTER (WHERE attempts > 1) AS count, max(attempts) AS most FROM target_action`);
    expect(Number(retried!.count)).toBeGreaterThan(0);
    expect(retried!.most).toBeGreaterThan(OUTAGE_MS / RETRY_CAP_MS);
  });
});
