// End-to-end time to deprovision: from the moment a leaver's SCIM PATCH is sent until all three
// downstream systems have confirmed the deactivation (the latest `target_action.confirmed_at`),
// with every simulated vendor call taking `--latency` ms. Leavers arrive open-loop at fixed rates
// (a request is sent on schedule whether or not earlier ones were answered), so a slow phase
// shows up as latency rather than as fewer requests.
//
//   node --import tsx bench/deprovision.ts [--rates 2,8] [--seconds 60] [--latency 20] [--warmup 20]
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { z } from 'zod';
import { countOption, log, parseOptions, runBenchmark } from './support/harness.js';
import { describeCounts, leaverStatusCounts, waitForLeavers } from './support/leavers.js';
import { scimHttpClient, type ScimHttpClient } from './support/load.js';
import { machineBusyPercent, machineTicks } from './support/machine.js';
import { summariseLatencies, type LatencySummary } from './support/stats.js';
import { LEAVER_PATCH, type SeededUser } from './support/users.js';

const optionsSchema = z.object({
  rates: z
    .string()
    .default('2,8')
    .transform((value) => value.split(',').map(Number))
    .pipe(z.array(z.number().positive().max(1000)).min(1)),
  seconds: countOption(60),
  latency: countOption(20, 0),
  warmup: countOption(20, 0),
  concurrency: countOption(64),
  'drain-timeout': countOption(600),
});
type Options = z.infer<typeof optionsSchema>;

interface Sent {
  identityId: string;
  /** Epoch ms when the PATCH was sent, and when its answer arrived. */
  sentAt: number;
  answeredAt: number;
  status: number;
}

interface RatePhase {
  rate: number;
  leavers: number;
  acknowledged: number;
  scim: LatencySummary;
  endToEnd: LatencySummary;
  afterAnswer: LatencySummary;
  confirmed: number;
  statuses: string;
  machineBusy: number;
}

const epochMs = () => performance.timeOrigin + performance.now();

/** Sends one PATCH per person at `rate` per second, each on its own schedule. */
async function sendOpenLoop(client: ScimHttpClient, people: SeededUser[], rate: number): Promise<Sent[]> {
  const started = performance.now();
  return Promise.all(
    people.map(async (person, index) => {
      const due = started + (index * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const sentAt = epochMs();
      const { status } = await client.send('PATCH', `/Users/${person.id}`, LEAVER_PATCH).catch(() => ({ status: 0 }));
      return { identityId: person.id, sentAt, answeredAt: epochMs(), status };
    }),
  );
}

async function measureRate(pool: pg.Pool, client: ScimHttpClient, people: SeededUser[], rate: number, options: Options): Promise<RatePhase> {
  const since = new Date();
  const ticks = machineTicks();
  log(`deprovision: ${people.length} leavers at ${rate}/s`);
  const sent = await sendOpenLoop(client, people, rate);
  const open = await waitForLeavers(pool, options['drain-timeout'] * 1000, (count) => log(`deprovision: ${count} leavers still running`));
  if (open > 0) log(`deprovision: ${open} leavers still running after the drain timeout; they count as not confirmed`);
  const busy = machineBusyPercent(ticks, machineTicks());
  // Per leaver: the latest confirmation over its targets, and how many targets are confirmed.
  const { rows } = await pool.query<{ identity_id: string; confirmed: Date | null; targets: string; done: string }>(
    `SELECT e.identity_id, max(t.confirmed_at) AS confirmed, count(t.*) AS targets, count(t.confirmed_at) AS done
       FROM lifecycle_event e JOIN target_action t ON t.event_id = e.id
      WHERE e.kind = 'leaver' AND e.identity_id = ANY($1::uuid[])
      GROUP BY e.identity_id`,
    [people.map((person) => person.id)],
  );
  const byIdentity = new Map(rows.map((row) => [row.identity_id, row]));
  const acknowledged = sent.filter((request) => request.status === 200);
  const endToEnd: number[] = [];
  const afterAnswer: number[] = [];
  for (const request of acknowledged) {
    const row = byIdentity.get(request.identityId);
    if (!row?.confirmed || Number(row.done) !== 3 || Number(row.targets) !== 3) continue;
    endToEnd.push(row.confirmed.getTime() - request.sentAt);
    afterAnswer.push(row.confirmed.getTime() - request.answeredAt);
  }
  const counts = await leaverStatusCounts(pool, since);
  return {
    rate,
    leavers: people.length,
    acknowledged: acknowledged.length,
    scim: summariseLatencies(Float64Array.from(acknowledged, (request) => request.answeredAt - request.sentAt)),
    endToEnd: summariseLatencies(Float64Array.from(endToEnd)),
    afterAnswer: summariseLatencies(Float64Array.from(afterAnswer)),
    confirmed: endToEnd.length,
    statuses: `events: ${describeCounts(counts.events)}; targets: ${describeCounts(counts.targets)}`,
    machineBusy: busy,
  };
}

const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : value >= 100 ? value.toFixed(0) : value.toFixed(1));

function report(options: Options, context: string[], phases: RatePhase[]): string {
  const header = ['leavers/s offered', 'leavers', 'acknowledged', 'all 3 confirmed', 'SCIM p50', 'SCIM p99', 'e2e p50', 'e2e p95', 'e2e p99', 'e2e max', 'machine busy'];
  const rows = phases.map((phase) => [
    String(phase.rate),
    String(phase.leavers),
    String(phase.acknowledged),
    String(phase.confirmed),
    ms(phase.scim.p50),
    ms(phase.scim.p99),
    ms(phase.endToEnd.p50),
    ms(phase.endToEnd.p95),
    ms(phase.endToEnd.p99),
    ms(phase.endToEnd.max),
    `${phase.machineBusy.toFixed(0)}%`,
  ]);
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padStart(widths[column]!)).join(' | ')} |`;
  return [
    '',
    'End-to-end time to deprovision: SCIM PATCH sent → all three systems confirmed (ms)',
    ...context,
    `setup:       jml as \`npm start\` runs it (API, relay and workers in one process); simulators in their own process, ${options.latency} ms added to every vendor call, no vendor rate limits; mass-deprovision guard off; ${options.warmup} warm-up leavers first`,
    `load:        open loop, ${options.seconds} s per rate; a leaver counts when all three target actions are confirmed`,
    '',
    line(header),
    `|${widths.map((width) => `${'-'.repeat(width + 1)}:`).join('|')}|`,
    ...rows.map(line),
    '',
    ...phases.map((phase) => `at ${phase.rate}/s: from the SCIM answer to the last confirmation p50 ${ms(phase.afterAnswer.p50)} ms, p99 ${ms(phase.afterAnswer.p99)} ms; ${phase.statuses}`),
    '',
  ].join('\n');
}

await runBenchmark('deprovision', async (harness) => {
  const options = parseOptions(optionsSchema, ['rates', 'seconds', 'latency', 'warmup', 'concurrency', 'drain-timeout']);
  const perRate = options.rates.map((rate) => Math.max(1, Math.round(rate * options.seconds)));
  const total = options.warmup + perRate.reduce((sum, n) => sum + n, 0);

  const simulators = await harness.startSimulators({ latencyMs: options.latency });
  log('deprovision: starting jml (bundling the workflows takes a few seconds)');
  const jml = await harness.startJml({ taskQueue: `bench-${randomBytes(4).toString('hex')}`, simulatorUrls: simulators.urls });
  const people = await jml.child.call('seed', { set: 'e2e', count: total, returnFirst: total });
  await simulators.child.call('seedAccounts', people);

  const pool = new pg.Pool({ connectionString: harness.database.url, max: 2 });
  harness.onCleanUp(() => pool.end());
  const client = scimHttpClient(`${jml.url}/scim/v2`, jml.token, options.concurrency);
  harness.onCleanUp(() => Promise.resolve(client.close()));

  if (options.warmup > 0) {
    log(`deprovision: ${options.warmup} warm-up leavers`);
    await sendOpenLoop(client, people.slice(0, options.warmup), 2);
    await waitForLeavers(pool, options['drain-timeout'] * 1000);
  }
  const phases: RatePhase[] = [];
  let offset = options.warmup;
  for (const [index, rate] of options.rates.entries()) {
    const group = people.slice(offset, offset + perRate[index]!);
    offset += group.length;
    phases.push(await measureRate(pool, client, group, rate, options));
  }
  // Every acknowledged leaver must be confirmed in all three systems, or the figures mean little.
  if (phases.some((phase) => phase.confirmed !== phase.acknowledged || phase.acknowledged !== phase.leavers)) process.exitCode = 1;
  return report(options, harness.context(), phases);
});
