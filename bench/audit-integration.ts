// Audited writes with and without the chain-head lock (docs/decisions/016-audit-integration.md),
// in one run on one database, `--concurrency` callers each writing a stand-in change and its audit
// rows:
//   - PostgreSQL's floors (bench/support/postgres-floor.ts: single-insert transactions with the
//     `pg` driver, and the same behind one shared FOR UPDATE row);
//   - old path: decision 004's append, kept here only, against its own copy of the old table:
//     lock the chain head FOR UPDATE, chain the rows, move the head, commit (Prisma transaction);
//   - new path, the same Prisma transaction shape: appendAudit (leaf hash, no lock);
//   - new path, one statement: the change and its rows in one pg statement, as target outcomes
//     and SCIM writes do (bench/support/audit-load.ts);
// the new paths with the AuditIntegrator running alongside as the server runs it, and its delay
// (insert to integration) p50/p99 over every row. Then `audit verify` over the result.
// Prints figures; fails nothing.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { toJson } from '../src/audit/canonical.js';
import { hashAuditRow } from '../src/audit/chain.js';
import { verifyChain } from '../src/audit/verify.js';
import { createDatabase, type Database, type Prisma } from '../src/db/client.js';
import { appendLine, createChangeTable, driveAppends, underIntegrator, type AppendFigures } from './support/audit-load.js';
import { createBenchDatabase } from './support/infra.js';
import { measurePostgresFloor } from './support/postgres-floor.js';
import { summariseLatencies } from './support/stats.js';

const { values } = parseArgs({
  options: { concurrency: { type: 'string', default: '16' }, transactions: { type: 'string', default: '6000' }, rows: { type: 'string', default: '1' } },
});
const concurrency = Number(values.concurrency);
const total = Number(values.transactions);
const rowsPerTransaction = Number(values.rows);

type Append = (tx: Prisma.TransactionClient, n: number) => Promise<unknown>;

const entries = (n: number) => Array.from({ length: rowsPerTransaction }, (_, index) => ({ actor: 'bench', action: 'bench.append', data: { n, index } }));

/** Decision 004's appendAudit as it was, on bench_old_audit_event / bench_old_head. */
const oldAppend: Append = async (tx, n) => {
  const [head] = await tx.$queryRaw<{ seq: bigint; hash: string }[]>`SELECT seq, hash FROM bench_old_head WHERE id = 1 FOR UPDATE`;
  let seq = head!.seq;
  let prevHash = head!.hash;
  const now = new Date();
  const rows = entries(n).map((entry) => {
    seq += 1n;
    const row = { seq, occurredAt: now, actor: entry.actor, action: entry.action, identityId: null, eventId: null, system: null, data: toJson(entry.data), prevHash };
    prevHash = hashAuditRow(row);
    return { ...row, hash: prevHash };
  });
  await tx.$executeRaw`
    WITH appended AS (
      INSERT INTO bench_old_audit_event (seq, occurred_at, actor, action, data, prev_hash, hash)
      SELECT * FROM unnest(${rows.map((row) => row.seq)}::bigint[], ${rows.map((row) => row.occurredAt)}::timestamptz[],
        ${rows.map((row) => row.actor)}::text[], ${rows.map((row) => row.action)}::text[], ${rows.map((row) => JSON.stringify(row.data))}::jsonb[],
        ${rows.map((row) => row.prevHash)}::text[], ${rows.map((row) => row.hash)}::text[])
      RETURNING 1)
    UPDATE bench_old_head SET seq = ${seq}, hash = ${prevHash} WHERE id = 1`;
};

async function drive(db: Database, append: Append, count = total): Promise<AppendFigures> {
  let next = 0;
  const latencies = new Float64Array(count);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let n = next++; n < count; n = next++) {
        const begin = performance.now();
        await db.$transaction(async (tx) => {
          // The change the audit rows record, then the rows, appended last as jml does.
          await tx.$executeRaw`INSERT INTO bench_change (data) VALUES (${JSON.stringify({ n })}::jsonb)`;
          await append(tx, n);
        });
        latencies[n] = performance.now() - begin;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { transactions: count, commits: count, rows: count * rowsPerTransaction, perSecond: count / seconds, rowsPerSecond: (count * rowsPerTransaction) / seconds, latency: summariseLatencies(latencies) };
}

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: concurrency + 2 });
try {
  await createChangeTable(db);
  await db.$executeRawUnsafe(`CREATE TABLE bench_old_audit_event (seq bigint PRIMARY KEY, occurred_at timestamptz(3) NOT NULL, actor text NOT NULL, action text NOT NULL, identity_id uuid, event_id uuid, system text, data jsonb NOT NULL, prev_hash text NOT NULL, hash text NOT NULL)`);
  await db.$executeRawUnsafe(`CREATE TABLE bench_old_head (id int PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL)`);
  await db.$executeRawUnsafe(`INSERT INTO bench_old_head VALUES (1, 0, repeat('0', 64))`);

  const floor = await measurePostgresFloor(database.url, { clients: concurrency, transactions: total });
  // Warm-up, not reported: the pool's connections, Prisma's query plans and the JIT, which
  // would otherwise all be charged to whichever path runs first.
  await drive(db, oldAppend, Math.min(300, total));
  await underIntegrator(db, () => driveAppends(db, { path: 'prisma', clients: concurrency, transactions: Math.min(300, total), rows: rowsPerTransaction }));
  const old = await drive(db, oldAppend);
  const prisma = await underIntegrator(db, () => driveAppends(db, { path: 'prisma', clients: concurrency, transactions: total, rows: rowsPerTransaction }));
  const statement = await underIntegrator(db, () => driveAppends(db, { path: 'statement', clients: concurrency, transactions: total, rows: rowsPerTransaction }));
  const check = await verifyChain(db);
  const delay = (figures: typeof prisma) =>
    `    integration delay (insert to integration), ${figures.delay.count} rows: p50 ${figures.delay.p50.toFixed(0)} ms  p99 ${figures.delay.p99.toFixed(0)} ms  max ${figures.delay.max.toFixed(0)} ms\n`;

  process.stdout.write(
    `audited transactions: ${total} per path, ${rowsPerTransaction} audit row(s) each, ${concurrency} concurrent callers, on ${database.description} (PostgreSQL ${database.version})\n` +
      `  ${floor.describe()}\n` +
      appendLine('old path: chain-head lock (Prisma tx)', old, floor.insertPerSecond) +
      appendLine('new path: appendAudit (Prisma tx)', prisma.result, floor.insertPerSecond) +
      delay(prisma) +
      appendLine('new path: one statement (pg)', statement.result, floor.insertPerSecond) +
      delay(statement) +
      `  new path vs old path, same Prisma transaction: ${(prisma.result.perSecond / old.perSecond).toFixed(2)}x; old path vs the shared-lock floor: ${(old.perSecond / floor.lockedPerSecond).toFixed(2)}x\n` +
      `  audit verify: ${check.ok ? `intact, ${check.rowsChecked} rows` : `BROKEN at ${check.firstBroken!.seq}: ${check.firstBroken!.reason}`}, ${check.pending.rows} pending\n`,
  );
} finally {
  await db.$disconnect();
  await database.drop();
}
