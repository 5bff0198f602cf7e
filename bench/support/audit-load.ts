// Audited writes as jml really sends them, for bench/audit-append.ts and bench/audit-integration.ts
// (issue 13, decision 016). Two append paths exist in jml:
//   - one statement: the change and its audit rows in one pg statement (a CTE), which is its own
//     transaction: every target outcome, read-back and SCIM PATCH/create (recordChangeAtOnce,
//     writeTarget, src/lifecycle/transitions.ts; decision 019). auditInsertSql is that fragment.
//   - Prisma interactive transaction: BEGIN, the change, appendAudit, COMMIT (operator actions,
//     tokens, workflow milestones, group writes).
// and, on top of the first, group commit (src/db/group-commit.ts): callers' writes handed in while
// a statement is in flight go together in the next one, each caller awaiting its own (a
// mass-release page's outcomes and read-backs, decision 048): several changes and their audit rows
// per statement, so per transaction.
// Both run here against a stand-in change (one row into bench_change) so that each transaction
// writes as much as the floor's single insert plus the audit rows, with the integrator running in
// the same process as the API runs it, and its delay (insert to integration) collected per row.
import { performance } from 'node:perf_hooks';
import { appendAudit, auditInsertSql, type AuditEntry } from '../../src/audit/append.js';
import { AuditIntegrator } from '../../src/audit/integrator.js';
import type { Database } from '../../src/db/client.js';
import { groupCommit } from '../../src/db/group-commit.js';
import { sqlOf } from '../../src/db/sql.js';
import { summariseLatencies, type LatencySummary } from './stats.js';

export type AppendPath = 'statement' | 'grouped' | 'prisma';

export interface AppendFigures {
  /** Callers' writes (each a change and its audit rows). */
  transactions: number;
  /** Database transactions they took: fewer than `transactions` when grouped. */
  commits: number;
  rows: number;
  perSecond: number;
  rowsPerSecond: number;
  latency: LatencySummary;
}

export async function createChangeTable(db: Database): Promise<void> {
  await db.$executeRawUnsafe(`CREATE TABLE IF NOT EXISTS bench_change (id bigserial PRIMARY KEY, data jsonb NOT NULL)`);
}

const entries = (n: number, rows: number): AuditEntry[] =>
  Array.from({ length: rows }, (_, index) => ({ actor: 'bench', action: 'bench.append', system: 'bench', data: { n, index } }));

/** One caller's change and its audit rows in one statement (a target outcome's shape). */
async function writeChange(db: Database, n: number, rows: number): Promise<void> {
  const record = auditInsertSql(entries(n, rows), new Date(), 2, 'EXISTS (SELECT 1 FROM changed)');
  await sqlOf(db).prepared(`WITH changed AS (INSERT INTO bench_change (data) VALUES ($1) RETURNING id), audit AS (${record.text}) SELECT 1`, [
    JSON.stringify({ n }),
    ...record.values,
  ]);
}

/** Several callers' changes and their audit rows in one statement (settleTargets' shape). */
async function writeChanges(db: Database, changes: number[], rows: number): Promise<void> {
  const record = auditInsertSql(changes.flatMap((n) => entries(n, rows)), new Date(), 2, 'EXISTS (SELECT 1 FROM changed)');
  await sqlOf(db).prepared(`WITH changed AS (INSERT INTO bench_change (data) SELECT unnest($1::jsonb[]) RETURNING id), audit AS (${record.text}) SELECT 1`, [
    changes.map((n) => JSON.stringify({ n })),
    ...record.values,
  ]);
}

/** One caller's write on `path`, and how many transactions the writes so far took. */
function appender(db: Database, path: AppendPath, rows: number): { write: (n: number) => Promise<void>; commits: () => number } {
  let commits = 0;
  const counted = { commits: () => commits };
  if (path === 'statement') return { ...counted, write: (n) => (commits++, writeChange(db, n, rows)) };
  if (path === 'grouped') {
    const write = groupCommit(async (changes: number[]) => {
      commits++;
      await writeChanges(db, changes, rows);
      return changes.map(() => undefined);
    });
    return { ...counted, write };
  }
  return {
    ...counted,
    write: (n) => {
      commits++;
      return db.$transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO bench_change (data) VALUES (${JSON.stringify({ n })}::jsonb)`;
        await appendAudit(tx, entries(n, rows), new Date());
      });
    },
  };
}

/** `transactions` audited writes of `rows` audit rows each, from `clients` concurrent callers. */
export async function driveAppends(db: Database, options: { path: AppendPath; clients: number; transactions: number; rows: number }): Promise<AppendFigures> {
  let next = 0;
  const latencies = new Float64Array(options.transactions);
  const append = appender(db, options.path, options.rows);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      for (let n = next++; n < options.transactions; n = next++) {
        const begin = performance.now();
        await append.write(n);
        latencies[n] = performance.now() - begin;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    transactions: options.transactions,
    commits: append.commits(),
    rows: options.transactions * options.rows,
    perSecond: options.transactions / seconds,
    rowsPerSecond: (options.transactions * options.rows) / seconds,
    latency: summariseLatencies(latencies),
  };
}

/**
 * Runs `load` with an AuditIntegrator on the same database (its default pauses, as src/system.ts
 * runs it), then integrates whatever the last pass had not reached; answers the load's result and
 * the delay of every row integrated meanwhile.
 */
export async function underIntegrator<T>(db: Database, load: () => Promise<T>): Promise<{ result: T; delay: LatencySummary; batches: number }> {
  const delays: number[] = [];
  let batches = 0;
  const integrator = new AuditIntegrator({
    db,
    onBatch: (batch) => {
      batches++;
      for (const ms of batch.delaysMs) delays.push(ms);
    },
  });
  integrator.start();
  let result: T;
  try {
    result = await load();
  } finally {
    await integrator.stop();
  }
  await integrator.integrateAll();
  return { result, delay: summariseLatencies(Float64Array.from(delays)), batches };
}

/**
 * The integrator alone: `rows` rows appended with no integrator running (16 concurrent multi-row
 * statements), then linked by integrateAll; answers rows integrated per second.
 */
export async function integratorThroughput(db: Database, rows: number): Promise<{ rows: number; perSecond: number; batchSize: number }> {
  const perStatement = 500;
  await driveAppends(db, { path: 'statement', clients: 16, transactions: Math.ceil(rows / perStatement), rows: perStatement });
  const integrator = new AuditIntegrator({ db });
  const started = performance.now();
  const integrated = await integrator.integrateAll();
  return { rows: integrated, perSecond: integrated / ((performance.now() - started) / 1000), batchSize: integrator.batchSize };
}

/** One line of the table: tx/s (a grouped path's writes/s and its transactions), rows/s and their share of the floor, latency percentiles. */
export function appendLine(name: string, figures: AppendFigures, floorPerSecond: number): string {
  // Grouped, a caller's write is not a transaction: say both.
  const grouped = figures.commits < figures.transactions;
  const unit = grouped ? 'writes/s' : 'tx/s';
  const carried = grouped ? `   (${figures.commits} transactions, ${(figures.transactions / figures.commits).toFixed(1)} writes each)` : '';
  return (
    `  ${name.padEnd(40)} ${figures.perSecond.toFixed(0).padStart(6)} ${unit} ${figures.rowsPerSecond.toFixed(0).padStart(6)} rows/s` +
    ` = ${(figures.rowsPerSecond / floorPerSecond).toFixed(2)}× floor (rows)   ${grouped ? 'write' : 'tx'} p50 ${figures.latency.p50.toFixed(1)} ms  p99 ${figures.latency.p99.toFixed(1)} ms${carried}\n`
  );
}
