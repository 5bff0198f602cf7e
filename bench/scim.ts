// SCIM benchmark: jml against a bare scimmy-routers server with an in-memory Map, for the three
// requests an identity provider sends most (lookup by userName, create, leaver PATCH). Prints a
// table; see docs/benchmarks.md for what is measured and how to read it.
//
//   node --import tsx bench/scim.ts [--concurrency 16] [--population 10000] [--lookups 2000]
//                                   [--creates 1000] [--patches 1000] [--warmup 100]
//
// Each server runs in a child process; this process only generates load, on 127.0.0.1 only.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { z } from 'zod';
import { lowerCpuPriority } from '../src/cli/supervisor.js';
import type { ReferenceProcessApi } from './reference-scimmy-server.js';
import { startChild, type CpuTime } from './support/child.js';
import { countOption, log, parseOptions as parseHarnessOptions, runBenchmark } from './support/harness.js';
import { waitForLeavers } from './support/leavers.js';
import { runLoad, scimHttpClient, type Outcome, type ScimHttpClient } from './support/load.js';
import { machineBusyPercent, machineTicks, processCpuMicros } from './support/machine.js';
import { seededRandom, summariseLatencies, type LatencySummary } from './support/stats.js';
import { benchUser, benchUserName, LEAVER_PATCH, type SeededUser } from './support/users.js';

// ---- Options -------------------------------------------------------------------------------

const optionsSchema = z
  .object({
    concurrency: countOption(16),
    population: countOption(10_000),
    lookups: countOption(2_000),
    creates: countOption(1_000),
    patches: countOption(1_000),
    warmup: countOption(100, 0),
    /** How long to wait for the leaver workflows after the PATCH burst before giving up. */
    'drain-timeout': countOption(600),
  })
  .refine((options) => options.patches + options.warmup <= options.population, {
    message: '--patches plus --warmup must not exceed --population: each PATCH makes a different seeded person a leaver',
  });

type Options = z.infer<typeof optionsSchema>;

const parseOptions = () => parseHarnessOptions(optionsSchema, ['concurrency', 'population', 'lookups', 'creates', 'patches', 'warmup', 'drain-timeout']);

// ---- Measuring -----------------------------------------------------------------------------

const BENCHMARKS = ['lookup', 'create', 'leaver PATCH'] as const;
type BenchmarkName = (typeof BENCHMARKS)[number];

interface PhaseResult {
  benchmark: BenchmarkName;
  server: 'jml' | 'reference';
  requests: number;
  perSecond: number;
  latency: LatencySummary;
  errors: number;
  errorSamples: string[];
  /** Percent of one core: the API process (jml) or the reference server. */
  serverCpu: number;
  /** The API process's (the reference's) CPU per timed request, in ms. */
  serverCpuMsPerRequest: number;
  /** Percent of one core: jml's worker process (undefined for the reference). */
  workerCpu?: number;
  /** Percent of one core: the Temporal dev server, when the benchmark started one (jml only). */
  temporalCpu?: number;
  loadCpu: number;
  /** Percent of all cores. */
  machineBusy: number;
  sockets: number;
}

interface Phase {
  benchmark: BenchmarkName;
  total: number;
  warmup: number;
  request: (client: ScimHttpClient, index: number, warmup: boolean) => Promise<Outcome>;
  /** Runs after the warm-up, before the timed requests (jml: let warm-up workflows finish). */
  afterWarmup?: () => Promise<void>;
}

function expectStatus(status: number, expected: number, body: string): Outcome {
  return status === expected ? { ok: true } : { ok: false, reason: `HTTP ${status}: ${body.slice(0, 160)}` };
}

/** The three benchmarks, over the same people and the same random lookups for both servers. */
function phasesFor(options: Options, seeded: SeededUser[], settleLeavers?: () => Promise<void>): Phase[] {
  const random = seededRandom(7);
  const lookupNames = Array.from({ length: options.lookups + options.warmup }, () => benchUserName('pop', Math.floor(random() * options.population)));
  return [
    {
      benchmark: 'lookup',
      total: options.lookups,
      warmup: options.warmup,
      async request(client, index, warmup) {
        const userName = lookupNames[warmup ? options.lookups + index : index]!;
        const filter = encodeURIComponent(`userName eq "${userName}"`);
        const { status, body } = await client.send('GET', `/Users?filter=${filter}`);
        if (status !== 200) return expectStatus(status, 200, body);
        const { totalResults } = JSON.parse(body) as { totalResults?: number };
        return totalResults === 1 ? { ok: true } : { ok: false, reason: `expected 1 result for ${userName}, got ${totalResults}` };
      },
    },
    {
      benchmark: 'create',
      total: options.creates,
      warmup: options.warmup,
      async request(client, index, warmup) {
        const { status, body } = await client.send('POST', '/Users', benchUser(warmup ? 'warm' : 'new', index));
        return expectStatus(status, 201, body);
      },
    },
    {
      benchmark: 'leaver PATCH',
      total: options.patches,
      warmup: options.warmup,
      // The first `patches` seeded people are the timed leavers; the next `warmup` warm up.
      async request(client, index, warmup) {
        const { id } = seeded[warmup ? options.patches + index : index]!;
        const { status, body } = await client.send('PATCH', `/Users/${id}`, LEAVER_PATCH);
        if (status !== 200) return expectStatus(status, 200, body);
        const { active } = JSON.parse(body) as { active?: unknown };
        return active === false ? { ok: true } : { ok: false, reason: `PATCH answered active=${String(active)}` };
      },
      afterWarmup: settleLeavers,
    },
  ];
}

async function runPhases(
  server: PhaseResult['server'],
  serverCpu: () => Promise<CpuTime>,
  workerCpu: (() => Promise<CpuTime>) | undefined,
  temporalCpu: (() => number | undefined) | undefined,
  client: ScimHttpClient,
  phases: Phase[],
  concurrency: number,
  afterPhase?: (phase: Phase, burstEnded: number) => Promise<void>,
): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  for (const phase of phases) {
    if (phase.warmup > 0) {
      log(`${server}: ${phase.benchmark}: warming up with ${phase.warmup} requests`);
      const warm = await runLoad({ total: phase.warmup, concurrency, request: (index) => phase.request(client, index, true) });
      if (warm.errors > 0) log(`${server}: ${phase.benchmark}: ${warm.errors} warm-up errors, e.g. ${warm.errorSamples[0]}`);
    }
    await phase.afterWarmup?.();
    log(`${server}: ${phase.benchmark}: ${phase.total} requests at concurrency ${concurrency}`);
    client.resetSocketCount();
    const cpuBefore = { load: process.cpuUsage(), server: await serverCpu(), worker: await workerCpu?.(), temporal: temporalCpu?.(), machine: machineTicks() };
    const burstStartMicros = process.hrtime.bigint() / 1000n;
    const load = await runLoad({ total: phase.total, concurrency, request: (index) => phase.request(client, index, false) });
    const burstEnded = Date.now();
    // The CPU profiles' clock (V8's, CLOCK_MONOTONIC in µs), so that one burst can be summarised alone.
    if (process.env.JML_BENCH_PROFILE_DIR) {
      log(`${server}: ${phase.benchmark}: profile window: node --import tsx bench/profile-summary.ts ${process.env.JML_BENCH_PROFILE_DIR} --from ${burstStartMicros} --to ${process.hrtime.bigint() / 1000n} --per ${phase.total}`);
    }
    const cpuAfter = { load: process.cpuUsage(cpuBefore.load), server: await serverCpu(), worker: await workerCpu?.(), temporal: temporalCpu?.(), machine: machineTicks() };
    const wallMicros = load.wallMs * 1000;
    results.push({
      benchmark: phase.benchmark,
      server,
      requests: phase.total,
      perSecond: phase.total / (load.wallMs / 1000),
      latency: summariseLatencies(load.latenciesMs),
      errors: load.errors,
      errorSamples: load.errorSamples,
      serverCpu: (100 * (cpuAfter.server.micros - cpuBefore.server.micros)) / wallMicros,
      serverCpuMsPerRequest: (cpuAfter.server.micros - cpuBefore.server.micros) / 1000 / phase.total,
      workerCpu: cpuAfter.worker && cpuBefore.worker ? (100 * (cpuAfter.worker.micros - cpuBefore.worker.micros)) / wallMicros : undefined,
      temporalCpu: cpuAfter.temporal !== undefined && cpuBefore.temporal !== undefined ? (100 * (cpuAfter.temporal - cpuBefore.temporal)) / wallMicros : undefined,
      loadCpu: (100 * (cpuAfter.load.user + cpuAfter.load.system)) / wallMicros,
      machineBusy: machineBusyPercent(cpuBefore.machine, cpuAfter.machine),
      sockets: client.socketsOpened(),
    });
    await afterPhase?.(phase, burstEnded);
  }
  return results;
}

// ---- Leaver workflows ----------------------------------------------------------------------

interface LeaverDrain {
  leavers: number;
  completed: number;
  needsAttention: number;
  /** Still pending or running when the drain timed out. */
  open: number;
  /** Held by the guard or waiting for a date. */
  parked: number;
  /** From the last PATCH's answer until the last leaver event was settled. */
  afterBurstMs: number;
  /** From the first timed PATCH's commit until the last settlement (database clocks). */
  endToEndMs: number;
  targets: Record<string, number>;
}

async function drainLeavers(pool: pg.Pool, since: Date, burstEnded: number, timeoutMs: number): Promise<LeaverDrain> {
  const open = await waitForLeavers(pool, timeoutMs);
  const settledAt = Date.now();
  const { rows } = await pool.query<{ leavers: string; completed: string; attention: string; parked: string; first: Date | null; last: Date | null }>(
    `SELECT count(*) AS leavers,
            count(*) FILTER (WHERE status = 'completed') AS completed,
            count(*) FILTER (WHERE status = 'needs_attention') AS attention,
            count(*) FILTER (WHERE status IN ('held', 'waiting')) AS parked,
            min(created_at) AS first, max(completed_at) AS last
       FROM lifecycle_event WHERE kind = 'leaver' AND created_at >= $1`,
    [since],
  );
  const targets = await pool.query<{ status: string; n: string }>(
    `SELECT t.status, count(*) AS n FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id
      WHERE e.kind = 'leaver' AND e.created_at >= $1 GROUP BY t.status ORDER BY t.status`,
    [since],
  );
  const row = rows[0]!;
  return {
    leavers: Number(row.leavers),
    completed: Number(row.completed),
    needsAttention: Number(row.attention),
    open,
    parked: Number(row.parked),
    afterBurstMs: settledAt - burstEnded,
    endToEndMs: row.first && row.last ? row.last.getTime() - row.first.getTime() : Number.NaN,
    targets: Object.fromEntries(targets.rows.map((target) => [target.status, Number(target.n)])),
  };
}

// ---- Report --------------------------------------------------------------------------------

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const pct = (value: number) => (Number.isNaN(value) ? 'n/a' : `${value.toFixed(0)}%`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column < 2 ? `${'-'.repeat(width + 1)}-` : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function report(options: Options, context: { context: string[]; shape: string; seedMs: { jml: number; reference: number } }, results: PhaseResult[], drain: LeaverDrain | undefined): string {
  const figures = table(
    ['benchmark', 'server', 'requests', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'errors', 'server CPU', 'server CPU ms/req', 'worker CPU', 'Temporal CPU', 'load-gen CPU', 'machine busy', 'sockets'],
    BENCHMARKS.flatMap((benchmark) =>
      results
        .filter((result) => result.benchmark === benchmark)
        .map((result) => [
          result.benchmark,
          result.server,
          String(result.requests),
          result.perSecond.toFixed(0),
          ms(result.latency.p50),
          ms(result.latency.p95),
          ms(result.latency.p99),
          ms(result.latency.max),
          String(result.errors),
          pct(result.serverCpu),
          ms(result.serverCpuMsPerRequest),
          result.workerCpu === undefined ? '-' : pct(result.workerCpu),
          result.temporalCpu === undefined ? '-' : pct(result.temporalCpu),
          pct(result.loadCpu),
          pct(result.machineBusy),
          String(result.sockets),
        ]),
    ),
  );
  const ratios = table(
    // Issue 13's targets: throughput at least 0.5× the reference's, p99 at most 2× its p99.
    ['benchmark', 'throughput jml/reference', 'p50 jml/reference', 'p99 jml/reference'],
    BENCHMARKS.map((benchmark) => {
      const jml = results.find((result) => result.benchmark === benchmark && result.server === 'jml');
      const reference = results.find((result) => result.benchmark === benchmark && result.server === 'reference');
      if (!jml || !reference) return [benchmark, 'n/a', 'n/a', 'n/a'];
      const ratio = (ours: number, theirs: number) => `${(ours / theirs).toFixed(2)}×`;
      return [benchmark, ratio(jml.perSecond, reference.perSecond), ratio(jml.latency.p50, reference.latency.p50), ratio(jml.latency.p99, reference.latency.p99)];
    }),
  );
  const errors = results
    .filter((result) => result.errors > 0)
    .map((result) => `errors in ${result.server} ${result.benchmark}: ${result.errorSamples.join(' | ')}`);
  const drainLine = drain
    ? `leaver workflows: ${drain.completed} of ${drain.leavers} completed, ${drain.needsAttention} need attention, ${drain.parked} held or waiting, ${drain.open} still running; ` +
      `all settled ${(drain.afterBurstMs / 1000).toFixed(1)} s after the last PATCH was answered, ` +
      `${(drain.endToEndMs / 1000).toFixed(1)} s from the first leaver's commit to the last completion ` +
      `(${(drain.leavers / (drain.endToEndMs / 1000)).toFixed(1)} workflows/s); target actions: ${Object.entries(drain.targets).map(([status, n]) => `${n} ${status}`).join(', ')}`
    : 'leaver workflows: not measured';
  return [
    '',
    'SCIM benchmark: jml vs a bare scimmy-routers server over an in-memory Map',
    ...context.context,
    `jml:         ${context.shape}`,
    `load:        concurrency ${options.concurrency}, ${options.warmup} warm-up requests before each benchmark; load generator, jml, simulators and reference in separate processes on this machine`,
    `population:  ${options.population} users, seeded directly, not timed: jml through Prisma createMany (${(context.seedMs.jml / 1000).toFixed(1)} s), the reference into its Map (${(context.seedMs.reference / 1000).toFixed(1)} s)`,
    "CPU:         server (jml: its API process), jml's worker, the Temporal dev server and load-gen CPU in % of one core; server CPU ms/req: the server's CPU per timed request; machine busy in % of all cores (PostgreSQL and Temporal included)",
    '',
    figures,
    '',
    ratios,
    '',
    drainLine,
    ...errors,
    '',
  ].join('\n');
}

// ---- Main ----------------------------------------------------------------------------------

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

await runBenchmark('scim', async (harness) => {
  const options = parseOptions();
  const seededCount = options.patches + options.warmup;
  const results: PhaseResult[] = [];

  // The reference first, alone on the machine but for idle PostgreSQL and Temporal.
  const reference = startChild<ReferenceProcessApi>(here('./reference-scimmy-server.ts'));
  harness.onCleanUp(() => reference.stop());
  const referenceTarget = await reference.call('start');
  let seedStarted = Date.now();
  const referenceSeeded = await reference.call('seed', { set: 'pop', count: options.population, returnFirst: seededCount });
  const seedMs = { reference: Date.now() - seedStarted, jml: 0 };
  const referenceClient = scimHttpClient(referenceTarget.url, referenceTarget.token, options.concurrency);
  results.push(...(await runPhases('reference', () => reference.cpu(), undefined, undefined, referenceClient, phasesFor(options, referenceSeeded), options.concurrency)));
  referenceClient.close();
  await reference.stop();

  // jml in `npm start`'s shape (decision 028): the API and the worker as two processes, each in a
  // session of its own, the worker at JML_WORKER_NICE; and the simulators its connectors call.
  const simulators = await harness.startSimulators();
  log('jml: starting the API and the worker (bundling the workflows takes a few seconds)');
  const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
  const jml = await harness.startJml({ role: 'api', taskQueue, simulatorUrls: simulators.urls });
  const worker = await harness.startJml({ role: 'worker', taskQueue, simulatorUrls: simulators.urls });
  const workerNice = await worker.child.call('nice');
  // The supervisor lowers the dev server it started with the worker (decision 028); so does this.
  const temporalPid = harness.temporal.pid;
  if (temporalPid !== undefined) lowerCpuPriority(temporalPid, workerNice);
  const shape = `API and worker in two processes as \`npm start\` runs them, the worker and the Temporal dev server at nice ${workerNice}`;
  seedStarted = Date.now();
  const jmlSeeded = await jml.child.call('seed', { set: 'pop', count: options.population, returnFirst: seededCount });
  // Only the people who will leave need accounts downstream; creates ask nothing of them.
  await simulators.child.call('seedAccounts', jmlSeeded);
  seedMs.jml = Date.now() - seedStarted;

  const pool = new pg.Pool({ connectionString: harness.database.url, max: 2 });
  harness.onCleanUp(() => pool.end());
  const drainTimeoutMs = options['drain-timeout'] * 1000;
  const settle = async () => {
    const open = await waitForLeavers(pool, drainTimeoutMs);
    if (open > 0) log(`jml: ${open} warm-up leaver workflows still open; measuring anyway`);
  };
  let drain: LeaverDrain | undefined;
  let patchStart = new Date();
  const jmlClient = scimHttpClient(`${jml.url}/scim/v2`, jml.token, options.concurrency);
  const jmlPhases = phasesFor(options, jmlSeeded, async () => {
    await settle();
    patchStart = new Date();
  });
  results.push(
    ...(await runPhases('jml', () => jml.child.cpu(), () => worker.child.cpu(), temporalPid === undefined ? undefined : () => processCpuMicros(temporalPid), jmlClient, jmlPhases, options.concurrency, async (phase, burstEnded) => {
      if (phase.benchmark !== 'leaver PATCH') return;
      log('jml: waiting for the leaver workflows to complete');
      drain = await drainLeavers(pool, patchStart, burstEnded, drainTimeoutMs);
    })),
  );
  jmlClient.close();
  return report(options, { context: harness.context(), shape, seedMs }, results, drain);
});
