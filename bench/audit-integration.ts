// Audited writes with and without the chain-head lock (docs/decisions/016-audit-integration.md),
// in one run on one database: concurrent transactions each write one audit row (after a stand-in
// statement for the change it records) by
//   - bare insert: the same row into a table with no hashing and no lock (the floor);
//   - old path: decision 004's append, kept here only, against its own copy of the old table:
//     lock the chain head FOR UPDATE, chain the row, move the head, commit;
//   - new path: appendAudit (leaf hash, no lock) with the AuditIntegrator running alongside,
//     linking rows every ~100 ms as the server does.
// Then the integration delay (insert to integration) p50/p99 over every row of the new path, and
// `audit verify` over the result. Prints figures; fails nothing.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { appendAudit } from '../src/audit/append.js';
import { canonicalJson, toJson } from '../src/audit/canonical.js';
import { hashAuditRow } from '../src/audit/chain.js';
import { AuditIntegrator } from '../src/audit/integrator.js';
import { verifyChain } from '../src/audit/verify.js';
import { createDatabase, type Database, type Prisma } from '../src/db/client.js';
import { createBenchDatabase } from './support/infra.js';
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

/** The floor: the same row, hashed (so the CPU cost is alike) but with no lock and no chain. */
const bareInsert: Append = async (tx, n) => {
  const rows = entries(n).map((entry) => ({ ...entry, hash: createHash('sha256').update(canonicalJson(entry)).digest('hex') }));
  await tx.$executeRaw`
    INSERT INTO bench_bare (actor, action, data, hash)
    SELECT * FROM unnest(${rows.map((row) => row.actor)}::text[], ${rows.map((row) => row.action)}::text[],
      ${rows.map((row) => JSON.stringify(row.data))}::jsonb[], ${rows.map((row) => row.hash)}::text[])`;
};

const newAppend: Append = (tx, n) => appendAudit(tx, entries(n));

async function drive(db: Database, append: Append, count = total): Promise<{ perSecond: number; p50: number; p99: number }> {
  let next = 0;
  const latencies = new Float64Array(count);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const n = next++;
        const begin = performance.now();
        await db.$transaction(async (tx) => {
          // The change the audit row records, then the row, appended last as jml does.
          await tx.$queryRaw`SELECT 1`;
          await append(tx, n);
        });
        latencies[n] = performance.now() - begin;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const summary = summariseLatencies(latencies);
  return { perSecond: count / seconds, p50: summary.p50, p99: summary.p99 };
}

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: concurrency + 2 });
try {
  await db.$executeRawUnsafe(`CREATE TABLE bench_bare (id bigserial PRIMARY KEY, occurred_at timestamptz(3) NOT NULL DEFAULT now(), actor text NOT NULL, action text NOT NULL, data jsonb NOT NULL, hash text NOT NULL)`);
  await db.$executeRawUnsafe(`CREATE TABLE bench_old_audit_event (seq bigint PRIMARY KEY, occurred_at timestamptz(3) NOT NULL, actor text NOT NULL, action text NOT NULL, identity_id uuid, event_id uuid, system text, data jsonb NOT NULL, prev_hash text NOT NULL, hash text NOT NULL)`);
  await db.$executeRawUnsafe(`CREATE TABLE bench_old_head (id int PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL)`);
  await db.$executeRawUnsafe(`INSERT INTO bench_old_head VALUES (1, 0, repeat('0', 64))`);

  const delays: number[] = [];
  const integrator = new AuditIntegrator({ db, onBatch: (batch) => delays.push(...batch.delaysMs) });
  const row = (name: string, figures: { perSecond: number; p50: number; p99: number }, floor?: number) =>
    `  ${name.padEnd(34)} ${figures.perSecond.toFixed(0).padStart(6)} tx/s  ${(figures.perSecond * rowsPerTransaction).toFixed(0).padStart(6)} rows/s   tx p50 ${figures.p50.toFixed(1)} ms  p99 ${figures.p99.toFixed(1)} ms${floor ? `   ${(figures.perSecond / floor).toFixed(2)}x the floor` : ''}\n`;

  // Warm-up, not reported: the pool's connections, Prisma's query plans and the JIT, which
  // would otherwise all be charged to whichever path runs first.
  await drive(db, bareInsert, Math.min(500, total));
  const bare = await drive(db, bareInsert);
  const old = await drive(db, oldAppend);
  integrator.start();
  const fresh = await drive(db, newAppend);
  await integrator.stop();
  // Whatever the last pass had not reached yet: counted in the delays too.
  await integrator.integrateAll();
  const sorted = Float64Array.from(delays).sort();
  const delay = summariseLatencies(sorted);
  const check = await verifyChain(db);

  process.stdout.write(
    `audited transactions: ${total} per path, ${rowsPerTransaction} audit row each, ${concurrency} concurrent connections, on ${database.description} (PostgreSQL ${database.version})\n` +
      row('bare insert (floor)', bare) +
      row('old path: chain-head lock', old, bare.perSecond) +
      row('new path: append + integrator', fresh, bare.perSecond) +
      `  new path vs old path: ${(fresh.perSecond / old.perSecond).toFixed(2)}x\n` +
      `  integration delay (insert to integration), ${delay.count} rows: p50 ${delay.p50.toFixed(0)} ms  p99 ${delay.p99.toFixed(0)} ms  max ${delay.max.toFixed(0)} ms\n` +
      `  audit verify: ${check.ok ? `intact, ${check.rowsChecked} rows` : `BROKEN at ${check.firstBroken!.seq}: ${check.firstBroken!.reason}`}, ${check.pending.rows} pending\n`,
  );
} finally {
  await db.$disconnect();
  await database.drop();
}
