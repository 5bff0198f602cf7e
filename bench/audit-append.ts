// How fast jml appends audit rows, through its real append paths, with `--concurrency` callers
// (issue 13's target: no shared lock inside a request's transaction, appends ≥ 2,000 rows/s, the
// integrator's delay p99 under one second at that load; decision 016). In one run on one database:
//   1. PostgreSQL's floors (bench/support/postgres-floor.ts, the `pg` driver, nothing of jml):
//      single-insert transactions, and the same behind one shared FOR UPDATE row;
//   2. the one-statement path (a change and its audit rows in one pg statement: target outcomes,
//      read-backs, SCIM PATCH and create), one caller's write per transaction, with the
//      AuditIntegrator running beside it as the API runs it, and the integrator's delay (insert to
//      integration) of every row;
//   3. the same statements under group commit (src/db/group-commit.ts): writes handed in while
//      one is in flight go together in the next statement, as a mass-release page's outcomes and
//      read-backs do (decision 048); its rate is callers' writes, printed with the transactions
//      that carried them;
//   4. the same through a Prisma interactive transaction (operator actions, workflow milestones);
//   5. the integrator alone over a backlog: rows linked per second, its ceiling;
// then `audit verify` over everything. Every rate is printed with its ratio to the single-insert
// floor measured in the same run, and each path with PostgreSQL's CPU per write (its backends'
// /proc figures, integration included), which compares across runs on a busy machine where rates
// do not. Prints figures; fails nothing.
import { parseArgs } from 'node:util';
import { verifyChain } from '../src/audit/verify.js';
import { createDatabase } from '../src/db/client.js';
import { appendLine, createChangeTable, driveAppends, integratorThroughput, underIntegrator, type AppendPath } from './support/audit-load.js';
import { backendCpu } from './support/backend-cpu.js';
import { createBenchDatabase } from './support/infra.js';
import { measurePostgresFloor } from './support/postgres-floor.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '16' },
    transactions: { type: 'string', default: '4000' },
    rows: { type: 'string', default: '1' },
    backlog: { type: 'string', default: '20000' },
  },
});
const clients = Number(values.concurrency);
const transactions = Number(values.transactions);
const rows = Number(values.rows);
const backlog = Number(values.backlog);

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: clients + 2 });
try {
  await createChangeTable(db);
  const floor = await measurePostgresFloor(database.url, { clients, transactions });
  // Warm-up, not counted, as the floor's: the pool's connections, plans, the JIT.
  await driveAppends(db, { path: 'statement', clients, transactions: Math.min(300, transactions), rows });
  await driveAppends(db, { path: 'grouped', clients, transactions: Math.min(300, transactions), rows });
  await driveAppends(db, { path: 'prisma', clients, transactions: Math.min(300, transactions), rows });
  await underIntegrator(db, async () => {});
  // PostgreSQL's CPU per write, the appends and their integration: comparable across runs on a busy machine.
  const cpu = await backendCpu(database.url);
  const costed = async (path: AppendPath) => {
    const before = await cpu.read();
    const figures = await underIntegrator(db, () => driveAppends(db, { path, clients, transactions, rows }));
    const after = await cpu.read();
    return { ...figures, cpuPerWrite: before === undefined || after === undefined ? Number.NaN : (after - before) / transactions };
  };
  const statement = await costed('statement');
  const grouped = await costed('grouped');
  const prisma = await costed('prisma');
  await cpu.close();
  const alone = await integratorThroughput(db, backlog);
  const check = await verifyChain(db);

  const delay = (name: string, figures: typeof statement) =>
    `    integrator delay under it (insert to integration, ${figures.delay.count} rows, ${figures.batches} batches): ` +
    `p50 ${figures.delay.p50.toFixed(0)} ms  p99 ${figures.delay.p99.toFixed(0)} ms  max ${figures.delay.max.toFixed(0)} ms${name}\n` +
    `    PostgreSQL CPU per write, its append and integration (the database's backends): ${figures.cpuPerWrite.toFixed(0)} µs\n`;
  // The target is read on the paths that commit each caller's write alone; group commit is shown beside them.
  const best = Math.max(statement.result.rowsPerSecond, prisma.result.rowsPerSecond);
  process.stdout.write(
    `audit appends: ${transactions} writes per path (a transaction each, but under group commit), ${rows} audit row(s) each, ${clients} concurrent callers, on ${database.description} (PostgreSQL ${database.version})\n` +
      `  ${floor.describe()}\n` +
      appendLine('one statement (change + rows, pg)', statement.result, floor.insertPerSecond) +
      delay('', statement) +
      appendLine('the same, group commit', grouped.result, floor.insertPerSecond) +
      delay('', grouped) +
      appendLine('Prisma interactive transaction', prisma.result, floor.insertPerSecond) +
      delay('', prisma) +
      `  integrator alone: ${alone.rows} pending rows linked at ${alone.perSecond.toFixed(0)} rows/s (batches of ${alone.batchSize}) = ${(alone.perSecond / floor.insertPerSecond).toFixed(2)}× floor\n` +
      `  shared-lock shape for comparison: ${(statement.result.perSecond / floor.lockedPerSecond).toFixed(2)}× its tx/s on the one-statement path\n` +
      `  target ≥ 2,000 rows/s, one write per transaction: ${best >= 2000 ? 'met' : 'not met'} (${best.toFixed(0)} rows/s; the floor itself is ${floor.insertPerSecond.toFixed(0)} tx/s here)` +
      `; integrator p99 < 1 s: ${Math.max(statement.delay.p99, grouped.delay.p99, prisma.delay.p99) < 1000 ? 'met' : 'not met'}\n` +
      `  audit verify: ${check.ok ? `intact, ${check.rowsChecked} rows` : `BROKEN at ${check.firstBroken!.seq}: ${check.firstBroken!.reason}`}, ${check.pending.rows} pending\n`,
  );
} finally {
  await db.$disconnect();
  await database.drop();
}
