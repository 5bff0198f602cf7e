// How many audited transactions per second jml's audit append sustains, at a stated concurrency:
// every audited write in jml (a SCIM write, each workflow milestone and outcome) appends its rows
// in one INSERT without a lock; the integrator chains them later (decision 016), and is not run
// here: bench/audit-integration.ts measures both against the bare-insert floor. Prints figures;
// fails nothing.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { appendAudit } from '../src/audit/append.js';
import { createDatabase } from '../src/db/client.js';
import { createBenchDatabase } from './support/infra.js';

const { values } = parseArgs({ options: { concurrency: { type: 'string', default: '16' }, transactions: { type: 'string', default: '2000' } } });
const concurrency = Number(values.concurrency);
const total = Number(values.transactions);

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: concurrency + 2 });
try {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
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
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!.toFixed(1);
  process.stdout.write(
    `audited transactions: ${total} at concurrency ${concurrency} on ${database.description} (PostgreSQL ${database.version})\n` +
      `  ${(total / seconds).toFixed(0)} tx/s   p50 ${at(0.5)} ms   p95 ${at(0.95)} ms   p99 ${at(0.99)} ms\n`,
  );
} finally {
  await db.$disconnect();
  await database.drop();
}
