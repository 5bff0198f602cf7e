// A burst of leavers, as a reorganisation or an HR bulk import produces: `--leavers` people are
// made leavers over SCIM as fast as jml accepts them. With jml's defaults the mass-deprovision
// guard holds such a burst for an operator; the benchmark approves it (one operator call) and
// measures the release: leavers per second, time until the last one is done, the worker's memory.
//
// `--allowed 0` (default): the simulators do not limit rates and neither does jml.
// `--allowed N`: every vendor allows N deactivations per second (bench/support/simulators-process.ts
// says how that maps to each vendor's own counting) and jml is configured to N activities per
// second per system; the figure is the achieved rate as a share of N, and every leaver must still
// succeed.
//
// Unthrottled runs first measure the bare Temporal fan-out floor on the same server
// (bench/support/temporal-floor.ts) and print the release as a share of it.
//
// It then measures the mass lane's floor (decision 048): the same leavers released by one workflow
// whose activities act on `--batch-floor` accounts each (0 skips it).
//
// `--mass-release on` releases the approval through jml's own mass lane (decision 048) whatever its
// size, `off` one workflow per leaver; by default jml's threshold (500) decides.
//
//   node --import tsx bench/burst.ts [--leavers 10000] [--allowed 0] [--latency 20] [--concurrency 16] [--floor-workflows 2000] [--batch-floor 50] [--mass-release default|on|off]
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { z } from 'zod';
import { countOption, log, parseOptions, runBenchmark } from './support/harness.js';
import { describeCounts, leaverStatusCounts, waitForLeavers } from './support/leavers.js';
import { runLoad, scimHttpClient } from './support/load.js';
import { busyCpuMs, machineBusyPercent, machineTicks, postgresCpuMicros, processCpuMicros, processMemory } from './support/machine.js';
import type { DownstreamCounts } from './support/simulators-process.js';
import { ofFloor, summariseLatencies } from './support/stats.js';
import { massReleaseTimeline } from './support/mass-release-timeline.js';
import { measureTemporalFloor } from './support/temporal-floor.js';
import { LEAVER_PATCH } from './support/users.js';

const optionsSchema = z.object({
  leavers: countOption(10_000),
  allowed: countOption(0, 0),
  latency: countOption(20, 0),
  concurrency: countOption(16),
  'drain-timeout': countOption(3600),
  /** JML_WORKER_CACHED_WORKFLOWS for the worker; 0 keeps jml's machine-sized default (decision 020). */
  'cached-workflows': countOption(0, 0),
  /** Workflows in the bare Temporal floor; by default as many as leavers, at most 2,000. */
  'floor-workflows': countOption(0, 0),
  /** Accounts per activity of the mass lane's floor (one workflow for the whole release, decision 048); 0 skips it. */
  'batch-floor': countOption(50, 0),
  /**
   * jml's mass-release lane (decision 048): `on` releases the approval through it whatever its size
   * (JML_MASS_RELEASE_THRESHOLD=1), `off` one workflow per leaver (0), `default` as jml's default
   * threshold decides (500).
   */
  'mass-release': z.enum(['default', 'on', 'off']).default('default'),
});
type Options = z.infer<typeof optionsSchema>;

const SYSTEMS = ['rocketchat', 'mendix', 'userapi'] as const;

interface SystemRate {
  system: (typeof SYSTEMS)[number];
  confirmed: number;
  perSecond: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;


/** PGSTAT_IDLE_INTERVAL (10 s, PostgreSQL 15's pgstat.c) and a second: an idle connection's counts have reached pg_stat_database. */
const STATISTICS_DELAY_MS = 11_000;

await runBenchmark('burst', async (harness) => {
  const options: Options = parseOptions(optionsSchema, ['leavers', 'allowed', 'latency', 'concurrency', 'drain-timeout', 'cached-workflows', 'floor-workflows', 'batch-floor', 'mass-release']);
  const limited = options.allowed > 0;
  const label = limited ? `rate-limited (each vendor allows ${options.allowed} deactivations/s)` : 'unthrottled';
  // The floor first, on the same (still empty) Temporal server, before any jml process runs. A
  // rate-limited run is measured against the rate allowed instead.
  const floorWorkflows = options['floor-workflows'] || Math.min(options.leavers, 2000);
  if (!limited) log(`burst ${label}: bare Temporal floor, ${floorWorkflows} workflows`);
  // The Temporal server's CPU, when this process started the server (the dev server runs every service in one process).
  const temporalPid = harness.temporal.pid;
  const temporalCpu = () => (temporalPid === undefined ? Number.NaN : (processCpuMicros(temporalPid) ?? Number.NaN));
  const floor = limited
    ? undefined
    : await measureTemporalFloor({ address: harness.temporal.address, workflows: floorWorkflows, latencyMs: options.latency, batchPerActivity: options['batch-floor'] || undefined, temporalCpuMicros: temporalCpu });
  const simulators = await harness.startSimulators({ latencyMs: options.latency, ...(limited ? { deactivationsPerSecond: options.allowed } : {}) });

  // The two docker-compose services: the API (SCIM, operator API, outbox relay) and one worker.
  const taskQueue = `burst-${randomBytes(4).toString('hex')}`;
  const guardOn = { JML_GUARD_ENABLED: 'true' };
  const lane: Record<string, string> = options['mass-release'] === 'default' ? {} : { JML_MASS_RELEASE_THRESHOLD: options['mass-release'] === 'on' ? '1' : '0' };
  const rateLimits = limited
    ? Object.fromEntries(SYSTEMS.map((system) => [`JML_RATE_LIMIT_${system.toUpperCase()}`, String(options.allowed)]))
    : {};
  log(`burst ${label}: starting the jml API and worker processes`);
  const api = await harness.startJml({ role: 'api', taskQueue, simulatorUrls: simulators.urls, env: { ...guardOn, ...lane } });
  const worker = await harness.startJml({ role: 'worker', taskQueue, simulatorUrls: simulators.urls, env: { ...guardOn, ...rateLimits, ...(options['cached-workflows'] > 0 ? { JML_WORKER_CACHED_WORKFLOWS: String(options['cached-workflows']) } : {}) } });
  const people = await api.child.call('seed', { set: 'burst', count: options.leavers, returnFirst: options.leavers });
  await simulators.child.call('seedAccounts', people);
  const pool = new pg.Pool({ connectionString: harness.database.url, max: 2 });
  harness.onCleanUp(() => pool.end());

  // 1. Intake: every leaver over SCIM, `concurrency` at a time.
  const intakeStart = new Date();
  const client = scimHttpClient(`${api.url}/scim/v2`, api.token, options.concurrency);
  harness.onCleanUp(() => Promise.resolve(client.close()));
  log(`burst ${label}: ${options.leavers} leaver PATCHes at concurrency ${options.concurrency}`);
  let ticks = machineTicks();
  const intake = await runLoad({
    total: options.leavers,
    concurrency: options.concurrency,
    request: async (index) => {
      const { status, body } = await client.send('PATCH', `/Users/${people[index]!.id}`, LEAVER_PATCH);
      return status === 200 ? { ok: true } : { ok: false, reason: `HTTP ${status}: ${body.slice(0, 160)}` };
    },
  });
  const intakeBusy = machineBusyPercent(ticks, machineTicks());
  // The few leavers before the guard tripped run at once; the rest wait, held.
  await waitForLeavers(pool, options['drain-timeout'] * 1000);
  const held = await leaverStatusCounts(pool, intakeStart);
  log(`burst ${label}: after intake: ${describeCounts(held.events)}`);

  // 2. Release: one operator call approves every held leaver.
  const memoryBefore = processMemory(worker.child.pid);
  let peakRss = memoryBefore?.rssMiB ?? Number.NaN;
  const sampler = setInterval(() => {
    const memory = processMemory(worker.child.pid);
    if (memory) peakRss = Math.max(peakRss, memory.rssMiB);
  }, 500);
  const cpuOf = async () => ({
    worker: (await worker.child.cpu()).micros,
    api: (await api.child.cpu()).micros,
    simulators: (await simulators.child.cpu()).micros,
    temporal: temporalCpu(),
    postgres: postgresCpuMicros() ?? Number.NaN,
  });
  // PostgreSQL's own count of the benchmark database's transactions (one per statement outside a
  // transaction): its statistics reach the view up to 10 s after a connection goes idle.
  const transactions = async () => {
    await sleep(STATISTICS_DELAY_MS);
    const { rows } = await pool.query<{ count: string }>('SELECT xact_commit + xact_rollback AS count FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]?.count ?? Number.NaN);
  };
  const transactionsBefore = await transactions();
  // After the statistics' wait, which used to count as 11 idle seconds of the release's busy share.
  ticks = machineTicks();
  const cpuBefore = await cpuOf();
  const releaseStart = new Date();
  const releaseStartMicros = process.hrtime.bigint() / 1000n;
  const approval = await fetch(`${api.url}/api/held/approve`, { method: 'POST', headers: { authorization: `Bearer ${api.operatorToken}` } });
  if (!approval.ok) throw new Error(`approving the held leavers failed: HTTP ${approval.status} ${await approval.text()}`);
  const { approved, massReleaseWorkflowId } = (await approval.json()) as { approved: unknown[]; massReleaseWorkflowId?: string };
  const path = massReleaseWorkflowId ? `the mass-release lane (${massReleaseWorkflowId})` : 'one workflow per leaver';
  log(`burst ${label}: approved ${approved.length} held leavers, released through ${path}; waiting for them`);
  const open = await waitForLeavers(pool, options['drain-timeout'] * 1000, (count) => log(`burst ${label}: ${count} leavers still running`));
  clearInterval(sampler);
  // The CPU profiles' clock (V8's, CLOCK_MONOTONIC in µs), so that only the release is summarised.
  if (process.env.JML_BENCH_PROFILE_DIR) log(`release window: node --import tsx bench/profile-summary.ts ${process.env.JML_BENCH_PROFILE_DIR} --from ${releaseStartMicros} --to ${process.hrtime.bigint() / 1000n} --per ${approved.length}`);
  const releaseTicks = machineTicks();
  const releaseBusy = machineBusyPercent(ticks, releaseTicks);
  const loadAverage = os.loadavg().map((load) => load.toFixed(1)).join(' ');
  const cpuAfter = await cpuOf();
  const releaseWallMicros = (Date.now() - releaseStart.getTime()) * 1000;
  const workerCpuMsPerLeaver = (cpuAfter.worker - cpuBefore.worker) / 1000 / Math.max(1, approved.length);
  const cpuShare = (process: keyof typeof cpuBefore) => `${((100 * (cpuAfter[process] - cpuBefore[process])) / releaseWallMicros).toFixed(0)}%`;
  const cpuMsPerLeaver = (process: keyof typeof cpuBefore) => (cpuAfter[process] - cpuBefore[process]) / 1000 / Math.max(1, approved.length);
  const memoryAfter = processMemory(worker.child.pid);
  const heapAfter = await worker.child.call('memory');
  const transactionsPerLeaver = ((await transactions()) - transactionsBefore) / Math.max(1, approved.length);
  const timeline = massReleaseWorkflowId ? await massReleaseTimeline(harness.temporal.address, massReleaseWorkflowId) : undefined;

  const { rows } = await pool.query<{ done: string; last: Date | null }>(
    `SELECT count(*) FILTER (WHERE status = 'completed') AS done, max(completed_at) AS last FROM lifecycle_event WHERE kind = 'leaver' AND created_at >= $1 AND completed_at >= $2`,
    [intakeStart, releaseStart],
  );
  const released = Number(rows[0]?.done ?? 0);
  const releaseMs = rows[0]?.last ? rows[0].last.getTime() - releaseStart.getTime() : Number.NaN;
  const releaseRate = released / (releaseMs / 1000);
  const rates = await pool.query<{ system: SystemRate['system']; confirmed: string; first: Date | null; last: Date | null }>(
    `SELECT t.system, count(*) AS confirmed, min(t.confirmed_at) AS first, max(t.confirmed_at) AS last
       FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id
      WHERE e.kind = 'leaver' AND e.created_at >= $1 AND t.confirmed_at >= $2 GROUP BY t.system ORDER BY t.system`,
    [intakeStart, releaseStart],
  );
  const systemRates: SystemRate[] = rates.rows.map((row) => ({
    system: row.system,
    confirmed: Number(row.confirmed),
    perSecond: row.first && row.last ? (Number(row.confirmed) - 1) / ((row.last.getTime() - row.first.getTime()) / 1000) : Number.NaN,
  }));
  const final = await leaverStatusCounts(pool, intakeStart);
  const attention = await pool.query<{ system: string; last_error: string | null; n: string }>(
    `SELECT t.system, t.last_error, count(*) AS n FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id
      WHERE e.kind = 'leaver' AND e.created_at >= $1 AND t.status NOT IN ('succeeded', 'verified') GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5`,
    [intakeStart],
  );
  const downstream = await simulators.child.call('counts');
  const intakeLatency = summariseLatencies(intake.latenciesMs);

  // The verdict, counted by the simulators: one deactivation per person per system, none undone.
  const problems: string[] = [];
  const expectAll = (what: string, actual: number) => {
    if (actual !== options.leavers) problems.push(`${what}: ${actual}, expected ${options.leavers}`);
  };
  for (const system of SYSTEMS) {
    expectAll(`${system} inactive accounts`, downstream[system].inactive);
    if (downstream[system].reactivations > 0) problems.push(`${system}: ${downstream[system].reactivations} reactivations`);
  }
  expectAll('user API deactivations performed', downstream.userapi.userapiDeactivations);
  expectAll('completed leavers', final.events.completed ?? 0);
  expectAll('leaver PATCHes acknowledged', options.leavers - intake.errors);
  if (open > 0) problems.push(`${open} leavers still running after ${options['drain-timeout']} s`);
  // The report still prints; the exit status tells `npm run bench` that this run failed its check.
  if (problems.length > 0) process.exitCode = 1;

  const downstreamLine = (system: (typeof SYSTEMS)[number], counts: DownstreamCounts) =>
    `  ${system.padEnd(10)} ${counts.calls} calls, ${counts.rateLimited} answered 429, ${counts.serverErrors} answered 5xx, ${counts.inactive} accounts inactive`;
  const rateLine = (rate: SystemRate) =>
    `  ${rate.system.padEnd(10)} ${rate.confirmed} confirmed during the release, ${rate.perSecond.toFixed(1)} deactivations/s` +
    (limited ? ` = ${((100 * rate.perSecond) / options.allowed).toFixed(0)}% of the allowed ${options.allowed}/s` : '');
  return [
    '',
    `Burst of ${options.leavers} leavers, ${label}`,
    ...harness.context(),
    `setup:       jml API and one jml worker in separate processes (as docker-compose runs them), mass-deprovision guard on (the default), worker cache ${options['cached-workflows'] > 0 ? `${options['cached-workflows']} workflows` : "sized from the machine (decision 020)"}; simulators in their own process, ${options.latency} ms added to every vendor call`,
    '',
    `intake:      ${options.leavers} SCIM PATCHes at concurrency ${options.concurrency} in ${seconds(intake.wallMs)} (${(options.leavers / (intake.wallMs / 1000)).toFixed(1)}/s, p50 ${intakeLatency.p50.toFixed(0)} ms, p99 ${intakeLatency.p99.toFixed(0)} ms), ${intake.errors} errors${intake.errorSamples.length > 0 ? ` (${intake.errorSamples.join(' | ')})` : ''}; machine ${intakeBusy.toFixed(0)}% busy`,
    `guard:       after the intake: ${describeCounts(held.events)}`,
    ...(floor ? [`floor:       ${floor.describe()}`] : []),
    ...(floor?.batch ? [`batch floor: ${floor.describeBatch()}; jml's release is ${(releaseRate / floor.batch.perSecond).toFixed(2)}× it`] : []),
    `release:     ${approved.length} approved in one operator call, released through ${path}; ${released} completed in ${seconds(releaseMs)} = ${releaseRate.toFixed(1)} leavers/s${floor ? ` = ${ofFloor(releaseRate, floor.perSecond)}` : ''} (${(3 * releaseRate).toFixed(1)} deactivations/s); worker ${workerCpuMsPerLeaver.toFixed(1)} ms CPU per leaver${floor ? ` = ${ofFloor(workerCpuMsPerLeaver, floor.workerCpuMsPerWorkflow)}` : ''}; machine ${releaseBusy.toFixed(0)}% busy of ${os.cpus().length} cores; CPU in % of one core: worker ${cpuShare('worker')}, API ${cpuShare('api')}, simulators ${cpuShare('simulators')}, Temporal ${cpuShare('temporal')}, PostgreSQL ${cpuShare('postgres')}; load average ${loadAverage} at its end`,
    `servers:     CPU per released leaver: machine ${(busyCpuMs(ticks, releaseTicks) / Math.max(1, approved.length)).toFixed(1)} ms${floor ? ` (the floor's ${floor.machineCpuMsPerWorkflow.toFixed(1)} ms per workflow)` : ''}, Temporal ${cpuMsPerLeaver('temporal').toFixed(1)} ms${floor ? ` (the floor's ${floor.temporalCpuMsPerWorkflow.toFixed(1)} ms)` : ''}, PostgreSQL ${cpuMsPerLeaver('postgres').toFixed(1)} ms (every process of the local server, other databases' work included), worker ${workerCpuMsPerLeaver.toFixed(1)} ms, API ${cpuMsPerLeaver('api').toFixed(1)} ms, simulators ${cpuMsPerLeaver('simulators').toFixed(1)} ms`,
    `PostgreSQL:  ${transactionsPerLeaver.toFixed(1)} transactions per approved leaver during the release (the benchmark database's count, the relay's and the audit integrator's own included; a statement outside a transaction is one)`,
    ...(timeline
      ? [
          `lane:        ${timeline.runs} workflow runs, ${timeline.pageActivities} page activities over ${seconds(timeline.spanMs)}: some page acting on accounts ${seconds(timeline.actingMs)}, only bookkeeping (beginning or finishing a page) ${seconds(timeline.bookkeepingOnlyMs)}, neither ${seconds(timeline.idleMs)} (workflow tasks and scheduling between them)`,
          `  per page:  ${timeline.systems.map((entry) => `${entry.system} ${entry.pages} pages, ${entry.meanQueuedMs.toFixed(0)} ms queued + ${entry.meanActingMs.toFixed(0)} ms acting, attempts up to ${entry.maxAttempt}`).join('; ')}; ${timeline.bookkeepingSteps.map((step) => `${step.count} × ${step.type} ${step.meanMs.toFixed(0)} ms`).join(', ')}`,
        ]
      : []),
    `worker RSS:  ${memoryBefore?.rssMiB.toFixed(0) ?? 'n/a'} MiB before the release, peak ${peakRss.toFixed(0)} MiB during it (sampled every 0.5 s), ${memoryAfter?.rssMiB.toFixed(0) ?? 'n/a'} MiB after; process high-water mark ${memoryAfter?.peakRssMiB.toFixed(0) ?? 'n/a'} MiB; after, in MiB: ${Object.entries(heapAfter).map(([key, value]) => `${key} ${value}`).join(', ')}`,
    'per system:',
    ...systemRates.map(rateLine),
    'downstream, as the simulators counted it (whole run):',
    ...SYSTEMS.map((system) => downstreamLine(system, downstream[system])),
    `jml:         events: ${describeCounts(final.events)}; targets: ${describeCounts(final.targets)}`,
    ...attention.rows.map((row) => `  not done (neither succeeded nor verified): ${row.n} × ${row.system}: ${row.last_error ?? 'no error recorded'}`),
    problems.length === 0
      ? `verdict:     every acknowledged leaver deactivated exactly once in each system (${options.leavers} × 3), none reactivated, nothing left running`
      : `verdict:     PROBLEMS: ${problems.join('; ')}`,
    '',
  ].join('\n');
});
