// What a flood of wrong bearer tokens costs a SCIM client (issue 15): SCIM creates are timed
// alone, then again while other connections send wrong tokens as fast as jml answers them, in
// the same run against the same jml. Prints both throughputs, their ratio, how the flood was
// answered, and how many audit rows it left (counted after jml stopped and wrote its tallies).
//
//   node --import tsx bench/auth-flood.ts [--creates 1000] [--flood 10000] [--concurrency 8] [--flood-concurrency 16]
//
// The flood and the client share 127.0.0.1: the address's failure budget is spent within the
// first requests, and the real client keeps going because its token verified (src/auth/failures.ts).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import { countOption, log, parseOptions, runBenchmark } from './support/harness.js';
import { runLoad, scimHttpClient } from './support/load.js';
import { summariseLatencies } from './support/stats.js';
import { benchUser } from './support/users.js';

const options = parseOptions(
  z.object({ creates: countOption(1000), flood: countOption(10_000), concurrency: countOption(8), 'flood-concurrency': countOption(16) }),
  ['creates', 'flood', 'concurrency', 'flood-concurrency'],
);

await runBenchmark('auth-flood', async (harness) => {
  const { urls } = await harness.startSimulators();
  const jml = await harness.startJml({ taskQueue: `bench-flood-${process.pid}`, simulatorUrls: urls, role: 'api' });
  const pool = new pg.Pool({ connectionString: harness.database.url, max: 1 });
  harness.onCleanUp(() => pool.end());
  const auditRows = async () => Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM audit_event WHERE action = 'auth.failed'`)).rows[0]?.n ?? 0);

  const client = scimHttpClient(`${jml.url}/scim/v2`, jml.token, options.concurrency);
  const creates = (set: string) =>
    runLoad({
      total: options.creates,
      concurrency: options.concurrency,
      request: async (index) => {
        const response = await client.send('POST', '/Users', benchUser(set, index));
        return response.status === 201 ? { ok: true } : { ok: false, reason: `HTTP ${response.status}: ${response.body.slice(0, 160)}` };
      },
    });

  log('warm-up');
  await runLoad({ total: 50, concurrency: options.concurrency, request: async (index) => ((await client.send('POST', '/Users', benchUser('warm', index))).status === 201 ? { ok: true } : { ok: false, reason: 'warm-up failed' }) });

  log(`${options.creates} creates alone`);
  const alone = await creates('alone');

  // Well-formed tokens of the right shape, each different: the costliest wrong token to refuse.
  const attacker = scimHttpClient(`${jml.url}/scim/v2`, `jml_scim_${randomBytes(32).toString('base64url')}`, options['flood-concurrency']);
  const statuses: Record<number, number> = {};
  let flooding = true;
  let sent = 0;
  const flood = (async () => {
    const result = await runLoad({
      total: options.flood,
      concurrency: options['flood-concurrency'],
      request: async () => {
        const response = await attacker.send('GET', '/Users?filter=userName%20eq%20%22ada%40example.com%22');
        sent += 1;
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
        return { ok: true };
      },
    });
    flooding = false;
    return result;
  })();
  log(`${options.creates} creates during a flood of ${options.flood} wrong tokens`);
  const during = await creates('during');
  const floodStillRunning = flooding;
  const floodResult = await flood;
  client.close();
  attacker.close();

  log('stopping jml so that it writes its failure tallies');
  await jml.child.stop();
  const rows = await auditRows();

  const rate = (result: typeof alone) => (options.creates / result.wallMs) * 1000;
  const line = (name: string, result: typeof alone) => {
    const latency = summariseLatencies(result.latenciesMs);
    return `${name.padEnd(22)} ${rate(result).toFixed(1).padStart(8)} creates/s   p50 ${latency.p50.toFixed(1)} ms   p99 ${latency.p99.toFixed(1)} ms   errors ${result.errors}`;
  };
  return [
    'auth-flood: SCIM creates alone and during a flood of wrong bearer tokens',
    ...harness.context(),
    `options:     ${JSON.stringify(options)}`,
    '',
    line('alone', alone),
    line('during the flood', during),
    `ratio:                 ${(rate(during) / rate(alone)).toFixed(3)} (1.000 = no effect)`,
    `flood:                 ${sent} wrong-token requests in ${(floodResult.wallMs / 1000).toFixed(1)} s (${((sent / floodResult.wallMs) * 1000).toFixed(0)}/s), answers ${JSON.stringify(statuses)}${floodStillRunning ? ', still running when the creates finished' : ', finished before the creates (raise --flood)'}`,
    `auth.failed rows:      ${rows} for ${sent} failures`,
    '',
  ].join('\n');
});
