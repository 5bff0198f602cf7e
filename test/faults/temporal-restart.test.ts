// A crash and restart of the Temporal server (a file-backed dev server of the test's own, killed
// with SIGKILL mid-run, down for 30 s and started again on the same file and port) costs nothing
// that was acknowledged: jml keeps answering SCIM while the server is down (the outbox holds the
// workflow starts), reconnects on its own without being restarted, and every acknowledged leaver
// is deactivated exactly once in each system.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startDevServer, type DevServer, type DevServerOptions } from '../../src/infra/temporal-server.js';
import {
  expectExactlyOnce,
  prepareFaultRun,
  seedPeople,
  sendLeavers,
  startJmlProcess,
  succeededActions,
  temporalCliPath,
  waitFor,
  waitUntilSettled,
  type FaultRun,
  type JmlProcess,
} from './support.js';

const PEOPLE = 300;
const SYSTEMS = 3;
const DOWN_FOR_MS = 30_000;

let run: FaultRun;
let scratch: string;
let cli: string;
let serverOptions: DevServerOptions;
let temporal: DevServer | undefined;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'jml-temporal-restart-'));
  cli = temporalCliPath();
  serverOptions = { port: await freePort(), dbFile: path.join(scratch, 'temporal.db'), namespace: 'default' };
  temporal = await startDevServer(cli, serverOptions);
  run = await prepareFaultRun('temporal', temporal.address);
});

afterAll(async () => {
  await jml?.stop();
  await temporal?.stop();
  rmSync(scratch, { recursive: true, force: true });
  await run.close();
});

describe('a restart of the Temporal server', () => {
  it('loses no acknowledged leaver, acts on none twice, and needs no restart of jml', async () => {
    const { database, simulators, env } = run;
    jml = await startJmlProcess(env);
    const pid = jml.child.pid;
    const people = await seedPeople(jml.url, simulators, 'temporal', PEOPLE);
    const before = people.slice(0, (PEOPLE * 2) / 3);
    const during = people.slice(before.length);

    const burst = sendLeavers(jml.url, before);
    const total = PEOPLE * SYSTEMS;
    await waitFor(async () => (await succeededActions(database.query)) >= before.length * SYSTEMS / 10, 120_000);
    await temporal!.kill();
    temporal = undefined;
    const downSince = Date.now();
    const doneAtKill = await succeededActions(database.query);

    // While the server is down, SCIM writes are still acknowledged: they wait in the outbox.
    const whileDown = await sendLeavers(jml.url, during);
    await sleep(DOWN_FOR_MS - (Date.now() - downSince));
    temporal = await startDevServer(cli, serverOptions);

    const acknowledged = new Set([...(await burst), ...whileDown]);
    expect(doneAtKill).toBeGreaterThan(0);
    expect(doneAtKill).toBeLessThan(total);
    expect(whileDown.size).toBe(during.length);
    expect(acknowledged.size).toBe(PEOPLE);

    await waitUntilSettled(database.query, 240_000);
    expect(jml.alive(), jml.output()).toBe(true);
    expect(jml.child.pid).toBe(pid);
    await expectExactlyOnce(database.query, simulators, acknowledged);
  });
});
