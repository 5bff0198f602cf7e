// How many audited transactions per second jml's audit append sustains, at a stated concurrency:
// every audited write in jml (a SCIM write, each workflow milestone and outcome) appends its rows
// in one INSERT without a lock; the integrator chains them later (decision 016), and is not run
// here: bench/audit-integration.ts measures both against the bare-insert floor. PostgreSQL's own
// floor (bench/support/postgres-floor.ts: single-insert transactions with as many clients, and the
// same behind one shared FOR UPDATE row) is measured first on the same database, and the figure is
// printed as a share of it. Prints figures; fails nothing.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { appendAudit } from '../src/audit/append.js';
import { createDatabase } from '../src/db/client.js';
import { createBenchDatabase } from './support/infra.js';
import { measurePostgresFloor } from './support/postgres-floor.js';
import { ofFloor } from './support/stats.js';

const { values } = parseArgs({ options: { concurrency: { type: 'string', default: '16' }, transactions: { type: 'string', default: '2000' } } });
const concurrency = Number(values.concurrency);
const total = Number(values.transactions);

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: concurrency + 2 });
try {
  const floor = await measurePostgresFloor(database.url, { clients: concurrency, transactions: total });
  const drive = async (count: number): Promise<number[]> => {
    let next = 0;
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next++;
          const begin = performance.now();
          await db.$transaction(async (tx) => {
            // A typical audited change: one row written, then its audit row appended last.
            await tx.$queryRaw`SELECT 1`;
            await appendAudit(tx, [{ actor: 'bench', action: 'bench.append', data: { n: next } }]);
          });
          latencies.push(performance.now() - begin);
        }
      }),
    );
    return latencies;
  };
  // Warm-up, not counted, as the floor's: the pool's connections and Prisma's plans.
  await drive(Math.min(200, total));
  const started = performance.now();
  const latencies = await drive(total);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!.toFixed(1);
  const perSecond = total / seconds;
  process.stdout.write(
    `audited transactions: ${total} at concurrency ${concurrency} on ${database.description} (PostgreSQL ${database.version})\n` +
      `  ${floor.describe()}\n` +
      `  jml ${perSecond.toFixed(0)} tx/s = ${ofFloor(perSecond, floor.insertPerSecond)} (${(perSecond / floor.lockedPerSecond).toFixed(2)}× the shared-lock shape)   p50 ${at(0.5)} ms   p95 ${at(0.95)} ms   p99 ${at(0.99)} ms\n`,
  );
} finally {
  await db.$disconnect();
  await database.drop();
}
