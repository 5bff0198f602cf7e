// How many SQL statements and transactions one leaver costs, end to end: the SCIM PATCH (its read
// and its write), the outbox relay, and the workflow's bookkeeping and three downstream outcomes.
// Counts every statement jml's pg clients send (Prisma's included: it queries through the pg
// driver adapter), by wrapping pg.Client#query in this process, where jml runs in full (SCIM API,
// relay, worker) against real PostgreSQL and Temporal with the three simulators. The guard is off
// and leavers act at once, as in the burst benchmark's release. Also prints leavers per second
// for the run, which at this size is a rough figure: use bench/burst.ts for throughput.
//
//   node --import tsx bench/leaver-statements.ts --leavers 20
//   ... --record-history test/workflows/histories/<file>.json writes the first leaver's workflow
//   history for the replay test (test/workflows/replay.test.ts).
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { z } from 'zod';
import { createToken } from '../src/auth/tokens.js';
import { parseEnvironment } from '../src/config.js';
import { createConnectors, parseConnectorsConfig } from '../src/connectors/config.js';
import type { Connector, SystemName } from '../src/connectors/types.js';
import { simulatorConnectorEnvironment, startSimulatorServer } from '../src/simulators/index.js';
import { startSystem } from '../src/system.js';
import { bundleWorkflows } from '../src/temporal/workers.js';
import { countOption, log, parseOptions } from './support/harness.js';
import { createBenchDatabase, obtainBenchTemporal } from './support/infra.js';
import { describeMachine } from './support/machine.js';
import { benchUser, LEAVER_PATCH } from './support/users.js';

const options = parseOptions(
  z.object({ leavers: countOption(20), concurrency: countOption(4), 'record-history': z.string().optional() }),
  ['leavers', 'concurrency', 'record-history'],
);

// Counted from the first leaver PATCH on; the population's creation before it is not counted,
// nor is this script's own polling client.
let counting = false;
let observer: pg.Client | undefined;
const counts = { statements: 0, begins: 0 };
type Query = (...args: unknown[]) => unknown;
for (const prototype of [pg.Client.prototype, (pg as unknown as { native?: { Client: { prototype: object } } }).native?.Client.prototype]) {
  if (!prototype) continue;
  const original = (prototype as { query: Query }).query;
  (prototype as { query: Query }).query = function (this: unknown, ...args: unknown[]) {
    if (counting && this !== observer) {
      counts.statements += 1;
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
      if (text?.trim().toUpperCase().startsWith('BEGIN')) counts.begins += 1;
      // JML_BENCH_STATEMENTS_LOG=1 prints each statement's first words, to see where they go.
      if (process.env.JML_BENCH_STATEMENTS_LOG) process.stderr.write(`[sql] ${text?.replace(/\s+/g, ' ').slice(0, 110)}\n`);
    }
    return original.apply(this, args);
  };
}

const database = await createBenchDatabase();
const temporal = await obtainBenchTemporal();
const simulators = await startSimulatorServer({ rocketchat: { rateLimit: false }, mendix: { rateLimit: false }, userapi: { rateLimits: false } });
const connectors = createConnectors(parseConnectorsConfig(simulatorConnectorEnvironment(simulators.urls))) as Partial<Record<SystemName, Connector>>;
const env = parseEnvironment({
  PORT: '0',
  HOST: '127.0.0.1',
  TEMPORAL_TASK_QUEUE: `statements-${process.pid}`,
  // The relay is kicked by every PATCH; its idle poll would only add statements no leaver causes.
  JML_OUTBOX_POLL_MS: '600000',
  JML_GUARD_ENABLED: 'false',
  JML_RATE_LIMIT_ROCKETCHAT: '0',
  JML_RATE_LIMIT_MENDIX: '0',
  JML_RATE_LIMIT_USERAPI: '0',
  JML_SCIM_RATE_LIMIT: '0',
});
const system = await startSystem({ env, databaseUrl: database.url, temporalAddress: temporal.address, connectors, workflowBundle: await bundleWorkflows() });
try {
  const { token } = await createToken(system.db, { name: 'bench', kind: 'scim' });
  const call = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${system.url}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { id: string };
  };
  log(`creating ${options.leavers} people and their accounts`);
  const ids: string[] = [];
  for (let index = 0; index < options.leavers; index += 1) {
    const user = benchUser('statements', index);
    const { id } = await call('POST', '/Users', user);
    ids.push(id);
    const email = (user.emails as { value: string }[])[0]!.value;
    simulators.simulators.rocketchat.seedUser({ username: user.userName as string, email });
    simulators.simulators.mendix.seedUser({ email });
    simulators.simulators.userapi.seedUser({ id: user.externalId as string });
  }
  // Let the joiners' workflows finish, so that only leavers are counted.
  observer = new pg.Client({ connectionString: database.url });
  await observer.connect();
  const open = async () => Number((await observer!.query<{ open: string }>(`SELECT count(*) AS open FROM lifecycle_event WHERE status IN ('pending', 'running')`)).rows[0]!.open);
  while ((await open()) > 0) await sleep(100);

  log(`${options.leavers} leaver PATCHes, ${options.concurrency} at a time`);
  counting = true;
  const started = Date.now();
  let next = 0;
  await Promise.all(Array.from({ length: options.concurrency }, async () => {
    for (let index = next++; index < ids.length; index = next++) await call('PATCH', `/Users/${ids[index]}`, LEAVER_PATCH);
  }));
  while ((await open()) > 0) await sleep(20);
  const elapsed = (Date.now() - started) / 1000;
  counting = false;
  await observer.end();
  if (options['record-history']) {
    const [first] = await system.db.lifecycleEvent.findMany({ where: { kind: 'leaver' }, orderBy: { createdAt: 'asc' }, take: 1 });
    // The event ends in its last target's write, before the workflow's own last task: wait for that.
    const handle = system.client.workflow.getHandle(first!.workflowId);
    await handle.result();
    const history = await handle.fetchHistory();
    writeFileSync(options['record-history'], JSON.stringify(history));
    log(`recorded ${first!.workflowId}'s history (${history.events?.length ?? 0} events) in ${options['record-history']}`);
  }
  const targets = await system.db.targetAction.groupBy({ by: ['status'], where: { event: { kind: 'leaver' } }, _count: true });

  const perLeaver = (value: number) => (value / options.leavers).toFixed(1);
  process.stdout.write(`${[
    describeMachine(),
    `PostgreSQL ${database.version}; ${options.leavers} leavers, ${options.concurrency} PATCHes in flight, guard off`,
    `targets: ${targets.map((row) => `${row.status} ${row._count}`).join(', ')}`,
    `statements per leaver: ${perLeaver(counts.statements)} (transactions begun: ${perLeaver(counts.begins)})`,
    `leavers/s, PATCH of the first to completion of the last: ${(options.leavers / elapsed).toFixed(1)}`,
  ].join('\n')}\n`);
} finally {
  await system.close();
  await simulators.close();
  await temporal.stop();
  await database.drop();
}
