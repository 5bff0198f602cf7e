// Reconciliation at scale (issue 14): 100,000 simulated accounts per system, of which `--drift` belong
// to leavers (identity inactive, account active) and `--orphans` to nobody, spread through the
// listing. Prints, per system, the time and the memory of a reconciliation next to its floor: a
// bare paged listing of the same simulator through the same connector, in the same run. Memory is
// sampled every 20 ms (peak heap and RSS over the phase's start, after a GC), and the heap is also
// printed at 10 %, 50 % and 100 % of the listing: flat means it does not grow with the accounts.
// The simulators run in a child process, so their 100,000 users are not counted as jml's.
// Then the same listing again with remediation on: it must record exactly one leaver event per
// planted drift (one deactivation of that system each, nothing for the orphans), and the
// mass-deprovision guard at its defaults must hold them (more than JML_GUARD_MAX_LEAVERS).
// Releasing them and counting each deactivation at the simulator is
// test/reconcile/remediation-guard.e2e.test.ts (1,000 accounts, real Temporal).
// Exits 1 when the findings or the remediation are not exactly the planted ones.
//
//   node --import tsx bench/reconcile.ts [--accounts 100000] [--drift 50] [--orphans 50] [--systems rocketchat,userapi]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseEnvironment } from '../src/config.js';
import { createConnectors, parseConnectorsConfig } from '../src/connectors/config.js';
import type { Connector, SystemName } from '../src/connectors/types.js';
import { createDatabase } from '../src/db/client.js';
import { evaluateGuard } from '../src/lifecycle/guard.js';
import { loadPolicy } from '../src/lifecycle/policy.js';
import { lifecycleSettingsOf } from '../src/lifecycle/settings.js';
import { logger } from '../src/logger.js';
import { reconcileSystem } from '../src/reconcile/run.js';
import { simulatorConnectorEnvironment, type SeedIdentity } from '../src/simulators/index.js';
import { startChild } from './support/child.js';
import { createBenchDatabase } from './support/infra.js';
import type { SimulatorsProcessApi } from './support/simulators-process.js';

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '100000' },
    drift: { type: 'string', default: '50' },
    orphans: { type: 'string', default: '50' },
    systems: { type: 'string', default: 'rocketchat,userapi' },
  },
});
const accounts = Number(values.accounts);
const drift = Number(values.drift);
const orphans = Number(values.orphans);
const systems = values.systems.split(',') as SystemName[];
const people = accounts - orphans;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

interface Phase {
  seconds: number;
  peakHeap: number;
  peakRss: number;
  baseHeap: number;
  baseRss: number;
}

/** Runs `body` after a GC, sampling memory every 20 ms. */
async function measure(body: () => Promise<void>): Promise<Phase> {
  gc();
  const base = process.memoryUsage();
  let peakHeap = base.heapUsed;
  let peakRss = base.rss;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    peakHeap = Math.max(peakHeap, now.heapUsed);
    peakRss = Math.max(peakRss, now.rss);
  }, 20);
  const started = performance.now();
  try {
    await body();
  } finally {
    clearInterval(sampler);
  }
  const end = process.memoryUsage();
  return { seconds: (performance.now() - started) / 1000, peakHeap: Math.max(peakHeap, end.heapUsed), peakRss: Math.max(peakRss, end.rss), baseHeap: base.heapUsed, baseRss: base.rss };
}

const driftStep = Math.floor(people / drift);
const orphanStep = Math.floor(accounts / orphans);
const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: 4 });
const simulators = startChild<SimulatorsProcessApi>(fileURLToPath(new URL('./support/simulators-process.ts', import.meta.url)), { LOG_LEVEL: 'warn' });
let failed = false;
try {
  const urls = await simulators.call('start', {});
  process.stderr.write(`[bench] seeding ${people} identities (${drift} leavers) and ${accounts} accounts per system (${orphans} orphans)\n`);
  await db.$executeRaw`
    INSERT INTO identity (id, user_name, external_id, active, resource, updated_at)
    SELECT gen_random_uuid(), 'bench-' || n, 'bench-emp-' || n, NOT (n % ${driftStep} = 0 AND n / ${driftStep} < ${drift}), '{}'::jsonb, now()
    FROM generate_series(0, ${people - 1}) AS n`;
  await db.$executeRaw`ANALYZE identity`;
  // Orphans spread through the listing, between the people's accounts.
  let person = 0;
  let orphan = 0;
  let chunk: SeedIdentity[] = [];
  for (let index = 0; index < accounts; index += 1) {
    const isOrphan = index % orphanStep === orphanStep - 1 && orphan < orphans;
    chunk.push(isOrphan ? { userName: `orphan-${orphan}`, externalId: `orphan-emp-${orphan++}` } : { userName: `bench-${person}`, externalId: `bench-emp-${person++}` });
    if (chunk.length === 5000 || index === accounts - 1) {
      await simulators.call('seedAccounts', chunk);
      chunk = [];
    }
  }
  const connectors = createConnectors(parseConnectorsConfig(simulatorConnectorEnvironment(urls))) as Partial<Record<SystemName, Connector>>;

  const lines: string[] = [];
  // jml's defaults, as `npm start` runs them: the guard on at 20 leavers an hour.
  const environment = parseEnvironment({});
  const lifecycle = lifecycleSettingsOf(environment, systems, loadPolicy(undefined));
  const guard = {
    enabled: environment.JML_GUARD_ENABLED,
    windowMs: environment.JML_GUARD_WINDOW_MS,
    maxLeavers: environment.JML_GUARD_MAX_LEAVERS,
    maxShare: environment.JML_GUARD_MAX_SHARE,
    minLeaversForShare: environment.JML_GUARD_MIN_LEAVERS,
  };
  for (const system of systems) {
    const connector = connectors[system]!;
    let listed = 0;
    const floor = await measure(async () => {
      for await (const page of connector.listAccounts!()) listed += page.length;
    });
    const checkpoints: string[] = [];
    const marks = [0.1, 0.5, 1].map((share) => Math.round(share * accounts));
    let report: Awaited<ReturnType<typeof reconcileSystem>> | undefined;
    const reconciliation = await measure(async () => {
      report = await reconcileSystem(
        {
          db,
          connectors,
          logger,
          onPage: ({ accounts: done }) => {
            if (done >= marks[checkpoints.length]!) checkpoints.push(`${done}: ${mib(process.memoryUsage().heapUsed)}`);
          },
        },
        { system, dryRun: false, remediate: false, trigger: 'bench' },
      );
    });
    // Exact: every person's account matched (so the unmatched are the planted orphans), and every
    // drift finding is one of the planted leavers.
    const exact =
      report!.status === 'complete' && report!.accounts === accounts && report!.matched === people && report!.drift === drift && report!.orphans === orphans && report!.disabledActive === 0;
    const [planted] = await db.$queryRaw<{ wrong: number }[]>`
      SELECT count(*)::int AS wrong FROM reconcile_finding f LEFT JOIN identity i ON i.id = f.identity_id
      WHERE f.run_id = ${report!.runId}::uuid AND NOT ((f.kind = 'orphan' AND f.identity_id IS NULL) OR (f.kind = 'drift' AND NOT i.active))`;
    if (!exact || planted!.wrong > 0 || listed !== accounts) failed = true;
    lines.push(
      `${system}: ${accounts} accounts, ${drift} planted drifts and ${orphans} orphans: found ${report!.drift} drift, ${report!.orphans} orphans, ${report!.disabledActive} disabled-active (${exact && planted!.wrong === 0 ? 'exact' : 'NOT EXACT'}), status ${report!.status}`,
      `  bare paged listing (floor): ${floor.seconds.toFixed(1)} s, ${(listed / floor.seconds).toFixed(0)} accounts/s, peak heap +${mib(floor.peakHeap - floor.baseHeap)}, peak RSS ${mib(floor.peakRss)} (+${mib(floor.peakRss - floor.baseRss)})`,
      `  reconciliation:             ${reconciliation.seconds.toFixed(1)} s, ${(accounts / reconciliation.seconds).toFixed(0)} accounts/s, peak heap +${mib(reconciliation.peakHeap - reconciliation.baseHeap)}, peak RSS ${mib(reconciliation.peakRss)} (+${mib(reconciliation.peakRss - reconciliation.baseRss)})`,
      `  ratio to the floor: time ${(reconciliation.seconds / floor.seconds).toFixed(2)}x, peak heap growth ${((reconciliation.peakHeap - reconciliation.baseHeap) / Math.max(1, floor.peakHeap - floor.baseHeap)).toFixed(2)}x`,
      `  heap during the reconciliation at accounts ${checkpoints.join(', ')}`,
    );

    // Remediation on: one leaver event per planted drift, for this system only, held by the guard.
    let remediationReport: Awaited<ReturnType<typeof reconcileSystem>> | undefined;
    const remediation = await measure(async () => {
      remediationReport = await reconcileSystem({ db, connectors, logger, lifecycle }, { system, dryRun: false, remediate: true, trigger: 'bench' });
    });
    const [events] = await db.$queryRaw<{ events: number; leavers: number; people: number; targets: number; other: number }[]>`
      SELECT count(DISTINCT e.id)::int AS events, count(DISTINCT e.id) FILTER (WHERE NOT i.active)::int AS leavers, count(DISTINCT e.identity_id)::int AS people,
             count(t.*)::int AS targets, count(t.*) FILTER (WHERE t.system <> ${system} OR t.action <> 'deactivate')::int AS other
      FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id JOIN target_action t ON t.event_id = e.id
      JOIN reconcile_finding f ON f.event_id = e.id AND f.run_id = ${remediationReport!.runId}::uuid`;
    const verdict = await evaluateGuard(db, guard, new Date());
    const remediationExact =
      remediationReport!.status === 'complete' && remediationReport!.remediated === drift && events!.events === drift && events!.leavers === drift && events!.people === drift && events!.targets === drift && events!.other === 0;
    if (!remediationExact || !verdict.tripped) failed = true;
    lines.push(
      `  remediation (JML_RECONCILE_REMEDIATE=true): ${remediation.seconds.toFixed(1)} s, ${remediationReport!.remediated} remediated, ${events!.events} leaver events for ${events!.people} people (${events!.leavers} of them leavers), ${events!.targets} targets of which ${events!.other} not a ${system} deactivation (${remediationExact ? 'exact' : 'NOT EXACT'}); the guard at JML_GUARD_MAX_LEAVERS=${guard.maxLeavers} ${verdict.tripped ? `holds them (${JSON.stringify(verdict.verdict.deprovisionsInWindow)} deprovisions in the window)` : 'DOES NOT hold them'}`,
    );
  }
  process.stdout.write(`reconciliation benchmark on ${database.description} (PostgreSQL ${database.version}), simulators in a child process\n${lines.join('\n')}\n`);
} finally {
  await simulators.stop();
  await db.$disconnect();
  await database.drop();
}
process.exit(failed ? 1 : 0);
