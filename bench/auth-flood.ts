// What a flood of wrong bearer tokens costs a SCIM client (issue 15: within 10 %). In the same run,
// against the same jml, after a warm-up round that is not reported, rounds of three phases, each
// timing the same number of SCIM creates, in two halves in mirrored order (A B C C B A, the first
// phase rotating from round to round) so that a machine or a jml that gets faster or slower during
// a round favours no phase; before each phase jml's outbox is let drain, so that no phase pays for
// the workflow starts of the creates before it:
//   alone  the SCIM client by itself;
//   jml    while a flood of wrong tokens hits jml;
//   floor  while the same flood hits a bare node:http server that answers 429 from a buffer
//          (bench/support/refusal-floor-process.ts): what the flood client and any HTTP server
//          take from the shared cores, so that jml's own share shows as jml minus floor.
// The ratio printed is the SCIM client's creates per second during the jml flood over alone, per
// round and over all rounds. Then the flood alone against jml and against the floor, for the CPU
// time each server spends per refused request, and the auth.failed rows jml wrote (counted after
// it stopped and wrote its tallies).
//
//   node --import tsx bench/auth-flood.ts [--creates 500] [--rounds 3] [--flood 10000] [--concurrency 8]
//     [--flood-concurrency 16] [--flood-rate 800] [--flood-pipeline 8] [--flood-nice 0] [--flood-from 127.0.0.2]
//
// How the flood runs, which the report repeats: in a process of its own, forked detached (an
// autogroup of its own on Linux, as jml has) at nice --flood-nice, sending from --flood-from over
// --flood-concurrency keep-alive connections, --flood-rate requests a second spread evenly (0: each
// connection sends again as soon as answered), for exactly as long as the creates it accompanies.
// Its requests are raw HTTP/1.1 bytes built once, written --flood-pipeline at a time (at most that
// many unanswered on a connection; 1: one request per write, each answered before the next), and
// its answers are counted by their status lines (bench/support/flood-process.ts): a node:http
// client cost the shared cores more per request than a refusal costs jml (decision 056, addendum "a cheaper flood").
// --rounds 0 skips the creates' rounds: only the flood alone at each server (CPU per refusal).
// The same rate at jml and at the floor costs the flood client the same CPU, so the two ratios
// differ by what jml's refusals cost. An attacker's CPU is on the attacker's machine; here it is
// on the cores jml, PostgreSQL and Temporal use, and it is printed ("flood" cores). At nice 19 it
// takes only CPU nobody else wants, which on a busy machine is too little to flood with: the
// report prints the rate it reached. Another loopback address is the attacker's own source: the
// SCIM client's address keeps its failure budget (--flood-from 127.0.0.1 shares it, and the client
// passes on its verified token).
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { z } from 'zod';
import { startChild, type ChildHandle } from './support/child.js';
import type { FloodProcessApi, FloodReport } from './support/flood-process.js';
import { countOption, log, parseOptions, runBenchmark } from './support/harness.js';
import { runLoad, scimHttpClient, type LoadResult } from './support/load.js';
import { machineBusyPercent, machineTicks } from './support/machine.js';
import type { RefusalFloorApi } from './support/refusal-floor-process.js';
import { summariseLatencies } from './support/stats.js';
import { benchUser } from './support/users.js';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

type PhaseName = 'alone' | 'jml' | 'floor';
const PHASES: PhaseName[] = ['alone', 'jml', 'floor'];

interface Phase {
  name: PhaseName;
  result: LoadResult;
  /** CPU milliseconds over the creates: jml, the SCIM client (this process), the flood client, the floor server. */
  cpuMs: { jml: number; client: number; flood: number; floor: number };
  machineBusy: number;
  /** Wrong-token requests answered while the creates ran, by status. */
  flood?: { sent: number; statuses: Record<string, number> };
}

const cpuMsOf = async (child: Pick<ChildHandle<never>, 'cpu'>) => (await child.cpu()).micros / 1000;

const options = parseOptions(
  z.object({
    creates: countOption(500),
    rounds: countOption(3, 0),
    flood: countOption(10_000),
    concurrency: countOption(8),
    'flood-concurrency': countOption(16),
    'flood-rate': z.coerce.number().int().min(0).default(800),
    'flood-pipeline': z.coerce.number().int().min(1).max(64).default(8),
    'flood-nice': z.coerce.number().int().min(0).max(19).default(0),
    'flood-from': z.string().regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'a loopback address, 127.x.y.z').default('127.0.0.2'),
  }),
  ['creates', 'rounds', 'flood', 'concurrency', 'flood-concurrency', 'flood-rate', 'flood-pipeline', 'flood-nice', 'flood-from'],
);

await runBenchmark('auth-flood', async (harness) => {
  const { urls } = await harness.startSimulators();
  const jml = await harness.startJml({ taskQueue: `bench-flood-${process.pid}`, simulatorUrls: urls, role: 'api' });
  const pool = new pg.Pool({ connectionString: harness.database.url, max: 1 });
  harness.onCleanUp(() => pool.end());
  const auditRows = async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM audit_event WHERE action = 'auth.failed'`)).rows[0]?.n ?? 0);

  const floor = startChild<RefusalFloorApi>(here('./support/refusal-floor-process.ts'), {}, { detached: true });
  harness.onCleanUp(() => floor.stop());
  const floorUrl = await floor.call('start');
  const flood = startChild<FloodProcessApi>(here('./support/flood-process.ts'), {}, { detached: true });
  harness.onCleanUp(() => flood.stop());
  const floodNice = await flood.call('lower', options['flood-nice']);
  const jmlNice = await jml.child.call('nice');
  const targets = { jml: `${jml.url}/scim/v2`, floor: `${floorUrl}/scim/v2` };
  const floodTarget = (url: string) => ({ url, concurrency: options['flood-concurrency'], localAddress: options['flood-from'], rate: options['flood-rate'], pipeline: options['flood-pipeline'] });

  const client = scimHttpClient(`${jml.url}/scim/v2`, jml.token, options.concurrency);
  harness.onCleanUp(() => Promise.resolve(client.close()));
  const creates = (set: string, total: number) =>
    runLoad({
      total,
      concurrency: options.concurrency,
      request: async (index) => {
        const response = await client.send('POST', '/Users', benchUser(set, index));
        return response.status === 201 ? { ok: true } : { ok: false, reason: `HTTP ${response.status}: ${response.body.slice(0, 160)}` };
      },
    });

  log('warm-up: 50 creates, and the flood against jml until its address is past its failure budget');
  await creates('warm', 50);
  await flood.call('begin', floodTarget(targets.jml));
  const warmUp = await flood.call('end', { atLeast: 100 });

  // The outbox rows the creates wrote, which jml's relay turns into workflow starts after them.
  const undispatched = async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE dispatched_at IS NULL`)).rows[0]?.n ?? 0);
  const drained = async () => {
    for (let waited = 0; waited < 600 && (await undispatched()) > 0; waited++) await new Promise((resolve) => setTimeout(resolve, 100));
  };

  const runPhase = async (name: PhaseName, set: string, count = options.creates): Promise<Phase> => {
    await drained();
    if (name !== 'alone') await flood.call('begin', floodTarget(targets[name]));
    const floodBefore = name === 'alone' ? undefined : await flood.call('progress');
    const [jmlBefore, floodCpuBefore, floorBefore] = await Promise.all([cpuMsOf(jml.child), cpuMsOf(flood), cpuMsOf(floor)]);
    const ownBefore = process.cpuUsage();
    const ticksBefore = machineTicks();
    const result = await creates(set, count);
    const ticksAfter = machineTicks();
    const own = process.cpuUsage(ownBefore);
    const floodAfter = name === 'alone' ? undefined : await flood.call('progress');
    const [jmlAfter, floodCpuAfter, floorAfter] = await Promise.all([cpuMsOf(jml.child), cpuMsOf(flood), cpuMsOf(floor)]);
    if (name !== 'alone') await flood.call('end', { atLeast: 0 });
    return {
      name,
      result,
      cpuMs: { jml: jmlAfter - jmlBefore, client: (own.user + own.system) / 1000, flood: floodCpuAfter - floodCpuBefore, floor: floorAfter - floorBefore },
      machineBusy: machineBusyPercent(ticksBefore, ticksAfter),
      flood: floodBefore && floodAfter ? { sent: floodAfter.sent - floodBefore.sent, statuses: difference(floodAfter.statuses, floodBefore.statuses) } : undefined,
    };
  };

  // One round as measured, not reported: jml's, PostgreSQL's and the client's first creates are
  // slower (code not yet optimised, plans and caches cold), which would flatter whatever ran last.
  if (options.rounds > 0) log(`warm-up round, not reported: ${PHASES.join(', ')} (${options.creates} creates each)`);
  const warmRound: Phase[] = [];
  if (options.rounds > 0) for (const name of PHASES) warmRound.push(await runPhase(name, `warm-${name}`));
  const warmRoundFailures = warmRound.find((phase) => phase.name === 'jml')?.flood?.sent ?? 0;

  const rowsBefore = await auditRows();
  const rounds: Phase[][] = [];
  const halves = [Math.ceil(options.creates / 2), Math.floor(options.creates / 2)];
  for (let round = 0; round < options.rounds; round++) {
    // A B C, then C B A with the other half of the creates: each phase's mean position in the round
    // is the same, so a steady drift cancels out; the first phase rotates across rounds.
    const order = PHASES.map((_, index) => PHASES[(index + round) % PHASES.length]!);
    log(`round ${round + 1} of ${options.rounds}: ${[...order, ...[...order].reverse()].join(', ')} (${halves.join(' + ')} creates each)`);
    const phases: Phase[] = [];
    for (const name of order) phases.push(await runPhase(name, `r${round}-${name}-a`, halves[0]));
    for (const name of [...order].reverse()) phases.push(await runPhase(name, `r${round}-${name}-b`, halves[1]));
    rounds.push(PHASES.map((name) => joined(phases.filter((phase) => phase.name === name))));
  }
  client.close();

  // The flood with nothing else running, against each server: its CPU time over the requests it
  // answered is the cost of one refusal. jml is not idle right after the rounds (its outbox relay
  // still starts the creates' workflows), so it is first let settle (until a second costs it under
  // 20 ms of CPU, at most 60 s); its idle CPU is measured for 3 s before and after the flood, and
  // the lower of the two is taken out (the figure per refusal errs high, not low), printed raw too.
  const idleRate = async () => {
    const before = await cpuMsOf(jml.child);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    return ((await cpuMsOf(jml.child)) - before) / 3000;
  };
  for (let waited = 0; waited < 60; waited++) {
    const before = await cpuMsOf(jml.child);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if ((await cpuMsOf(jml.child)) - before < 20) break;
  }
  const jmlIdleBefore = await idleRate();
  const floodOnly = async (server: Pick<ChildHandle<never>, 'cpu'>, url: string) => {
    log(`flood only: ${options.flood} wrong tokens to ${url}`);
    const [serverBefore, floodBefore] = await Promise.all([cpuMsOf(server), cpuMsOf(flood)]);
    await flood.call('begin', floodTarget(url));
    const report = await flood.call('end', { atLeast: options.flood });
    const [serverAfter, floodAfter] = await Promise.all([cpuMsOf(server), cpuMsOf(flood)]);
    return { report, serverCpuMs: serverAfter - serverBefore, floodCpuMs: floodAfter - floodBefore };
  };
  const jmlOnlyFrom = process.hrtime.bigint() / 1000n;
  const jmlOnly = await floodOnly(jml.child, targets.jml);
  if (process.env.JML_BENCH_PROFILE_DIR) {
    log(`jml's flood-only window: node --import tsx bench/profile-summary.ts ${process.env.JML_BENCH_PROFILE_DIR} --from ${jmlOnlyFrom} --to ${process.hrtime.bigint() / 1000n} --per ${jmlOnly.report.sent}`);
  }
  const jmlIdleAfter = await idleRate();
  const jmlIdlePerMs = Math.min(jmlIdleBefore, jmlIdleAfter);
  const floorOnly = await floodOnly(floor, targets.floor);
  const jmlRawPerRefusalUs = (jmlOnly.serverCpuMs * 1000) / jmlOnly.report.sent;
  const jmlPerRefusalUs = ((jmlOnly.serverCpuMs - jmlIdlePerMs * jmlOnly.report.wallMs) * 1000) / jmlOnly.report.sent;
  const floorPerRefusalUs = (floorOnly.serverCpuMs * 1000) / floorOnly.report.sent;

  log('stopping jml so that it writes its failure tallies');
  await jml.child.stop();
  const rows = (await auditRows()) - rowsBefore;

  const rate = (phases: Phase[]) => (phases.length * options.creates * 1000) / phases.reduce((sum, phase) => sum + phase.result.wallMs, 0);
  const byName = (name: PhaseName) => rounds.map((phases) => phases.find((phase) => phase.name === name)!);
  const ratio = (name: PhaseName, phases = rounds) => rate(phases.map((round) => round.find((phase) => phase.name === name)!)) / rate(phases.map((round) => round[0]!));
  const cores = (cpuMs: number, phase: Phase) => (cpuMs / phase.result.wallMs).toFixed(2);
  const phaseLine = (phase: Phase) => {
    const latency = summariseLatencies(phase.result.latenciesMs);
    const floodPart = phase.flood
      ? `   flood ${phase.flood.sent} (${((phase.flood.sent / phase.result.wallMs) * 1000).toFixed(0)}/s) ${JSON.stringify(phase.flood.statuses)}`
      : '';
    return (
      `  ${phase.name.padEnd(6)} ${rate([phase]).toFixed(1).padStart(6)} creates/s  p50 ${latency.p50.toFixed(0)} ms  errors ${phase.result.errors}` +
      `   cores: jml ${cores(phase.cpuMs.jml, phase)} client ${cores(phase.cpuMs.client, phase)} flood ${cores(phase.cpuMs.flood, phase)} floor ${cores(phase.cpuMs.floor, phase)}` +
      `   machine ${phase.machineBusy.toFixed(0)} % busy${floodPart}`
    );
  };
  const jmlFloods = byName('jml').map((phase) => phase.flood!);
  const duringJml = jmlFloods.reduce((sum, report) => sum + report.sent, 0);
  const jmlStatuses = jmlFloods.reduce<Record<string, number>>((sum, report) => add(sum, report.statuses), {});
  const overall = ratio('jml');
  const onlyLine = (name: string, only: { report: FloodReport; serverCpuMs: number; floodCpuMs: number }, perRefusalUs: number) =>
    `  ${name.padEnd(6)} ${only.report.sent} in ${(only.report.wallMs / 1000).toFixed(1)} s (${((only.report.sent / only.report.wallMs) * 1000).toFixed(0)}/s) ${JSON.stringify(only.report.statuses)}` +
    `   server CPU ${perRefusalUs.toFixed(0)} µs per refused request   flood client CPU ${((only.floodCpuMs * 1000) / only.report.sent).toFixed(0)} µs per request`;

  return [
    'auth-flood: SCIM creates alone, during a flood of wrong bearer tokens at jml, and during the same flood at a bare node:http server',
    ...harness.context(),
    `options:     ${JSON.stringify(options)}`,
    `the flood:   a process of its own in an autogroup of its own at nice ${floodNice} (jml's: ${jmlNice}), from ${options['flood-from']} (the SCIM client from 127.0.0.1),`,
    `             ${options['flood-concurrency']} keep-alive connections, ${options['flood-rate'] > 0 ? `aiming at ${options['flood-rate']} requests/s` : 'each sending as soon as answered'}, raw requests ${options['flood-pipeline']} to a write at most (pipelined when more than 1),`,
    `             for as long as the creates; the CPU it takes is printed ("flood" cores)`,
    '',
    ...(rounds.length === 0
      ? ['no rounds (--rounds 0): the flood alone only']
      : [
          ...rounds.flatMap((phases, index) => [`round ${index + 1}: ratio jml ${ratio('jml', [phases]).toFixed(3)}, floor ${ratio('floor', [phases]).toFixed(3)}`, ...phases.map(phaseLine)]),
          '',
          `creates/s over all rounds: alone ${rate(byName('alone')).toFixed(1)}, jml flood ${rate(byName('jml')).toFixed(1)}, floor flood ${rate(byName('floor')).toFixed(1)}`,
          `ratio, jml flood / alone:   ${overall.toFixed(3)} (rounds: ${rounds.map((phases) => ratio('jml', [phases]).toFixed(3)).join(', ')}); issue 15 asks within 10 %: ${overall >= 0.9 ? 'yes' : 'NO'}`,
          `ratio, floor flood / alone: ${ratio('floor').toFixed(3)} (rounds: ${rounds.map((phases) => ratio('floor', [phases]).toFixed(3)).join(', ')}): the same flood at a server that does nothing but refuse`,
          `wrong tokens jml answered while the client worked: ${duringJml} ${JSON.stringify(jmlStatuses)}${duringJml < options.flood ? ` (fewer than --flood ${options.flood}: raise --creates or --rounds)` : ''}`,
        ]),
    `flood only (nothing else running; jml's idle CPU, ${(jmlIdleBefore * 1000).toFixed(0)} ms/s before and ${(jmlIdleAfter * 1000).toFixed(0)} ms/s after, the lower taken out; ${jmlRawPerRefusalUs.toFixed(0)} µs per refusal with it):`,
    onlyLine('jml', jmlOnly, jmlPerRefusalUs),
    onlyLine('floor', floorOnly, floorPerRefusalUs),
    `auth.failed rows: ${rows} added for ${warmUp.sent + warmRoundFailures + duringJml + jmlOnly.report.sent} failures at jml (warm-ups, rounds, flood only)`,
    '',
  ].join('\n');
});

/** A phase's two halves as one: times, CPU and flood added, latencies together, the machine's load weighted by time. */
function joined([first, second]: Phase[]): Phase {
  if (!second) return first!;
  const wallMs = first!.result.wallMs + second.result.wallMs;
  const latenciesMs = new Float64Array(first!.result.latenciesMs.length + second.result.latenciesMs.length);
  latenciesMs.set(first!.result.latenciesMs);
  latenciesMs.set(second.result.latenciesMs, first!.result.latenciesMs.length);
  const cpuMs = { jml: 0, client: 0, flood: 0, floor: 0 };
  for (const key of Object.keys(cpuMs) as (keyof typeof cpuMs)[]) cpuMs[key] = first!.cpuMs[key] + second.cpuMs[key];
  return {
    name: first!.name,
    result: { wallMs, latenciesMs, errors: first!.result.errors + second.result.errors, errorSamples: [...first!.result.errorSamples, ...second.result.errorSamples].slice(0, 5) },
    cpuMs,
    machineBusy: (first!.machineBusy * first!.result.wallMs + second.machineBusy * second.result.wallMs) / wallMs,
    flood: first!.flood && second.flood ? { sent: first!.flood.sent + second.flood.sent, statuses: add({ ...first!.flood.statuses }, second.flood.statuses) } : undefined,
  };
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([status, count]) => [status, count - (before[status] ?? 0)]));
}

function add(sum: Record<string, number>, more: Record<string, number>): Record<string, number> {
  for (const [status, count] of Object.entries(more)) sum[status] = (sum[status] ?? 0) + count;
  return sum;
}
