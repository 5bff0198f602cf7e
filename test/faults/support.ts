// What the fault tests share: jml as separate processes (API, worker or both) that a test can kill
// with SIGKILL and start again on the same database and Temporal server, as a crash and a restart
// would; a population seeded over SCIM; a burst of leavers; and the one check every fault test
// ends with: each acknowledged leaver was deactivated exactly once in each system, and nothing is
// left pending.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect, inject } from 'vitest';
import { buildTemporalCli, locateTemporalCli } from '../../scripts/temporal-cli.js';
import { freePort } from '../../src/infra/temporal-server.js';
import { simulatorConnectorEnvironment, startSimulatorServer, type SimulatorServer } from '../../src/simulators/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { CORE_USER, PATCH_OP, scimClient } from '../support/scim-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const FAULT_TOKEN = 'fault-test-token-'.padEnd(48, 'x');

export type JmlRole = 'all' | 'api' | 'worker';

const START_LIMIT_MS = 180_000;

export interface JmlProcess {
  url: string;
  child: ChildProcess;
  /** False once the process has exited, for whatever reason. */
  alive(): boolean;
  /** The end of what it printed (errors only: LOG_LEVEL=error), for failure messages. */
  output(): string;
  /** SIGKILL: no shutdown hooks, no flushing, as a crash. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export async function startJmlProcess(env: Record<string, string>, role: JmlRole = 'all'): Promise<JmlProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--role', role], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', JML_SKIP_BOOTSTRAP: '1', LOG_LEVEL: process.env.JML_FAULT_LOG_LEVEL ?? 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    // Generous: a restart on a 2-core machine under the load of a fault test took over 60 s.
    const timer = setTimeout(() => {
      // Not left running: nobody holds a handle to stop it once this rejects.
      child.kill('SIGKILL');
      reject(new Error(`jml did not start within ${START_LIMIT_MS / 1000} s:\n${output.slice(-3000)}`));
    }, START_LIMIT_MS);
    const watch = () => {
      if (output.includes('jml is running')) {
        clearTimeout(timer);
        child.stdout.off('data', watch);
        child.stderr.off('data', watch);
        resolve();
      }
    };
    child.stdout.on('data', watch);
    child.stderr.on('data', watch);
    // 'close', not 'exit': only then has everything the process printed been read.
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`jml exited with ${code} before it started:\n${output.slice(-3000)}`));
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    alive,
    output: () => output.slice(-3000),
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive()) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The Temporal CLI, for a dev server the test starts, stops and starts again itself. */
export function temporalCliPath(): string {
  const source = locateTemporalCli();
  if (source.kind === 'executable') return source.path;
  if (source.kind === 'go-build') return buildTemporalCli((line: string) => process.stderr.write(`${line}\n`));
  throw new Error('This test needs the Temporal CLI: put `temporal` on PATH, set TEMPORAL_CLI_PATH, or install Go (npm test builds it).');
}

/** Simulators with their rate limits off: the faults under test are the only ones. */
export function startFaultSimulators(): Promise<SimulatorServer> {
  return startSimulatorServer({ rocketchat: { rateLimit: false }, userapi: { rateLimits: false }, mendix: { rateLimit: false } });
}

/**
 * jml's environment for a fault test: no rate limits, no mass-deprovision guard (a burst of
 * leavers is exactly what it holds), a quick outbox sweep and quick first retries. `dataDir` is
 * the run's own JML_DATA_DIR: the API publishes signed checkpoints there and `jml audit verify`
 * compares the chain with every checkpoint it finds, so a directory shared with another run (the
 * checkout's .jml-data) holds another database's checkpoints and fails the verification.
 */
export function faultEnvironment(input: { databaseUrl: string; temporalAddress: string; simulators: SimulatorServer; taskQueue: string; dataDir: string }): Record<string, string> {
  return {
    DATABASE_URL: input.databaseUrl,
    JML_DATA_DIR: input.dataDir,
    TEMPORAL_ADDRESS: input.temporalAddress,
    TEMPORAL_TASK_QUEUE: input.taskQueue,
    JML_SCIM_TOKEN: FAULT_TOKEN,
    JML_SCIM_RATE_LIMIT: '0',
    JML_GUARD_ENABLED: 'false',
    JML_RATE_LIMIT_ROCKETCHAT: '0',
    JML_RATE_LIMIT_MENDIX: '0',
    JML_RATE_LIMIT_USERAPI: '0',
    JML_OUTBOX_POLL_MS: '200',
    JML_RETRY_INITIAL_MS: '200',
    ...simulatorConnectorEnvironment(input.simulators.urls),
  };
}

/** A JML_DATA_DIR of the run's own (checkpoints, signing key); the caller removes it. */
export function faultDataDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `jml-faults-${name}-`));
}

export interface FaultRun {
  /** A database of the test's own, cloned from the migrated template. */
  database: TestDatabase;
  simulators: SimulatorServer;
  /** jml's environment for this run (faultEnvironment). */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** What a fault test runs against: its own database and simulators, and the shared Temporal server unless it brings one. */
export async function prepareFaultRun(name: string, temporalAddress: string = inject('temporalAddress')): Promise<FaultRun> {
  const database = await createTestDatabase();
  const simulators = await startFaultSimulators();
  const dataDir = faultDataDir(name);
  return {
    database,
    simulators,
    env: faultEnvironment({ databaseUrl: database.url, temporalAddress, simulators, taskQueue: `faults-${name}-${process.pid}`, dataDir }),
    async close() {
      await simulators.close();
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Person {
  /** jml's SCIM id. */
  id: string;
  userName: string;
  externalId: string;
}

const scimOf = (url: string) => scimClient(`${url}/scim/v2`, FAULT_TOKEN);

/** Runs `work` on every item, `concurrency` at a time, in order of the items. */
export async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

/** Creates `count` people over SCIM (joiners act on nothing downstream), each with an active account in every simulator. */
export async function seedPeople(url: string, simulators: SimulatorServer, prefix: string, count: number): Promise<Person[]> {
  const people: Person[] = [];
  await inParallel(Array.from({ length: count }, (_, index) => index), 8, async (index) => {
    const userName = `${prefix}${index}`;
    const externalId = `ext-${userName}`;
    simulators.simulators.seedFromIdentity({ userName, email: `${userName}@example.com`, externalId });
    const created = await scimOf(url).post('/Users', { schemas: [CORE_USER], userName, externalId, emails: [{ value: `${userName}@example.com`, primary: true }] });
    expect(created.status).toBe(201);
    people[index] = { id: created.body.id, userName, externalId };
  });
  return people;
}

/** What one leaver PATCH got: a status, or no answer at all (the connection died). */
export type LeaverAnswer = { status: number; body: unknown } | { status: 'no answer' };

/** SCIM PATCH active=false: what an identity provider sends when someone leaves. */
export async function sendLeaver(url: string, person: Person): Promise<LeaverAnswer> {
  try {
    const response = await scimOf(url).patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    return { status: response.status, body: response.body };
  } catch {
    return { status: 'no answer' };
  }
}

/** Sends every leaver, 16 at a time; returns the externalIds of those that got a 2xx (what was promised). */
export async function sendLeavers(
  url: string,
  people: readonly Person[],
  options: { onAnswer?: (answer: LeaverAnswer, person: Person) => void } = {},
): Promise<Set<string>> {
  const acknowledged = new Set<string>();
  await inParallel(people, 16, async (person) => {
    const answer = await sendLeaver(url, person);
    if (typeof answer.status === 'number' && answer.status >= 200 && answer.status < 300) acknowledged.add(person.externalId);
    options.onAnswer?.(answer, person);
  });
  return acknowledged;
}

/** SQL against jml's database, as the test's own connection (not through jml). */
export type Query = TestDatabase['query'];

/** How many lifecycle events the database holds. */
export const countEvents = async (query: Query) => Number((await query<{ count: string }>('SELECT count(*) FROM lifecycle_event'))[0]!.count);

/** The lifecycle events each person got since `since`, as "kind@now" or "kind@later" (a future effective date). */
export async function eventsSince(query: Query, since: Date): Promise<Map<string, string[]>> {
  const rows = await query<{ user_name: string; kind: string; later: boolean }>(
    `SELECT i.user_name, e.kind, e.effective_at > e.created_at + interval '1 minute' AS later
       FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE e.created_at >= $1 ORDER BY e.created_at`, [since]);
  const events = new Map<string, string[]>();
  for (const row of rows) events.set(row.user_name, [...(events.get(row.user_name) ?? []), `${row.kind}@${row.later ? 'later' : 'now'}`]);
  return events;
}

/** How many downstream actions have succeeded (accepted, or accepted and read back) so far. */
export async function succeededActions(query: Query): Promise<number> {
  const [row] = await query<{ count: string }>(`SELECT count(*) FROM target_action WHERE status IN ('succeeded', 'verified')`);
  return Number(row!.count);
}

/** Waits (polling, up to `limitMs`) until `ready` says yes; the caller asserts on the outcome. */
export async function waitFor(ready: () => Promise<boolean>, limitMs: number, pollMs = 250): Promise<void> {
  for (const started = Date.now(); Date.now() - started < limitMs; await sleep(pollMs)) {
    if (await ready()) return;
  }
}

async function pending(query: Query) {
  const [open] = await query<{ count: string }>(`SELECT count(*) FROM lifecycle_event WHERE kind = 'leaver' AND status NOT IN ('completed', 'needs_attention', 'cancelled')`);
  const [undispatched] = await query<{ count: string }>('SELECT count(*) FROM outbox WHERE dispatched_at IS NULL');
  const [unsettled] = await query<{ count: string }>(`SELECT count(*) FROM target_action WHERE status NOT IN ('succeeded', 'verified')`);
  return Number(open!.count) + Number(undispatched!.count) + Number(unsettled!.count);
}

/**
 * Waits until every recorded leaver has run its course, or until nothing has moved for `stallMs`.
 * A stall, not a deadline: on a loaded 2-core machine a 1,000-leaver run that is still settling
 * steadily is not a failure (CI once stopped one at 240 s with 120 leavers still going), while a
 * run that stops making progress is, and the caller's assertions then name what was left.
 */
export async function waitUntilSettled(query: Query, stallMs: number): Promise<void> {
  let least = Number.POSITIVE_INFINITY;
  let movedAt = Date.now();
  while (Date.now() - movedAt < stallMs) {
    const left = await pending(query);
    if (left === 0) return;
    if (left < least) {
      least = left;
      movedAt = Date.now();
    }
    await sleep(500);
  }
}

/**
 * Every acknowledged leaver was committed and completed, nothing is pending, and each committed
 * leaver changed each system exactly once, counted by the simulators as state changes (delivery
 * is at least once: an activity that called a system and died before recording it is retried,
 * and the repeat changes nothing). Returns the committed externalIds.
 */
export async function expectExactlyOnce(query: Query, simulators: SimulatorServer, acknowledged: ReadonlySet<string>): Promise<Set<string>> {
  const leavers = await query<{ external_id: string; status: string }>(
    `SELECT i.external_id, e.status FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE e.kind = 'leaver'`);
  expect(leavers.filter((leaver) => leaver.status !== 'completed')).toEqual([]);
  const [undispatched] = await query<{ count: string }>('SELECT count(*) FROM outbox WHERE dispatched_at IS NULL');
  expect(Number(undispatched!.count)).toBe(0);
  const unsettled = await query<{ system: string; status: string }>(`SELECT system, status FROM target_action WHERE status NOT IN ('succeeded', 'verified')`);
  expect(unsettled).toEqual([]);

  const committed = new Set(leavers.map((leaver) => leaver.external_id));
  expect(committed.size).toBe(leavers.length);
  // Every acknowledged request was committed (and some unacknowledged ones may have been too).
  expect([...acknowledged].filter((externalId) => !committed.has(externalId))).toEqual([]);

  // The user API's simulator records each change it performed: exactly one per committed leaver.
  const changes = new Map<string, number>();
  for (const action of simulators.simulators.userapi.actions()) {
    expect(action.action).toBe('deactivate');
    changes.set(action.userId, (changes.get(action.userId) ?? 0) + 1);
  }
  expect([...changes.keys()].sort()).toEqual([...committed].sort());
  expect([...changes.entries()].filter(([, count]) => count !== 1)).toEqual([]);
  // Rocket.Chat and Mendix: nobody is ever reactivated here, so being inactive at the end means
  // exactly one deactivation; and exactly the committed leavers are inactive.
  const committedNames = [...committed].map((externalId) => externalId.replace(/^ext-/, '')).sort();
  const inactive = <T extends { active: boolean }>(users: T[], name: (user: T) => string) => users.filter((user) => !user.active).map(name).sort();
  expect(inactive(simulators.simulators.rocketchat.users(), (user) => user.username)).toEqual(committedNames);
  expect(inactive(simulators.simulators.mendix.users(), (user) => user.email.replace('@example.com', ''))).toEqual(committedNames);
  const reactivations = simulators.simulators.rocketchat.calls().filter((call) => (call.body as { activeStatus?: unknown } | undefined)?.activeStatus === true);
  expect(reactivations).toHaveLength(0);
  return committed;
}

