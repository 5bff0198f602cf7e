// What one statement on the hot path costs through each way jml can reach PostgreSQL, in the same
// run on the same database: Prisma's model API, Prisma's $queryRaw, and the `pg` driver on the
// pool Prisma itself uses (src/db/sql.ts). Each statement is what a target outcome sends: read the
// target joined to its event, then update it. Prints microseconds per statement, sequentially
// (one client at a time, so the figure is the per-round-trip cost on this process, not throughput)
// and with 8 in flight (the event loop's CPU per statement, which is what saturates the worker).
// Decision 019 (docs/decisions/019-hot-path-sql.md) is based on it.
//
//   node --import tsx bench/db-path.ts --statements 3000
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { createDatabase } from '../src/db/client.js';
import { sqlOf } from '../src/db/sql.js';
import { countOption, log, parseOptions } from './support/harness.js';
import { createBenchDatabase } from './support/infra.js';
import { describeMachine } from './support/machine.js';

const options = parseOptions(z.object({ statements: countOption(3000), rows: countOption(50) }), ['statements', 'rows']);

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: 8 });
try {
  log(`seeding ${options.rows} events with one target each`);
  const identities = await db.identity.createManyAndReturn({
    data: Array.from({ length: options.rows }, (_, index) => ({ userName: `db-path-${index}@bench.example.com`, resource: {} })),
    select: { id: true },
  });
  const events = await db.lifecycleEvent.createManyAndReturn({
    data: identities.map(({ id }, index) => ({ identityId: id, kind: 'leaver', actor: 'bench', effectiveAt: new Date(), workflowId: `db-path-${index}`, changes: {} })),
    select: { id: true },
  });
  await db.targetAction.createMany({ data: events.map(({ id }) => ({ eventId: id, system: 'rocketchat', action: 'deactivate' })) });
  const ids = events.map((event) => event.id);
  const sql = sqlOf(db);

  type Path = (eventId: string, index: number) => Promise<unknown>;
  const paths: Record<string, { read: Path; write: Path }> = {
    'prisma model API': {
      read: (eventId) => db.targetAction.findUnique({ where: { eventId_system_action: { eventId, system: 'rocketchat', action: 'deactivate' } }, include: { event: true } }),
      write: (eventId, index) => db.targetAction.updateMany({ where: { eventId, system: 'rocketchat', action: 'deactivate' }, data: { attempts: index } }),
    },
    'prisma $queryRaw': {
      read: (eventId) => db.$queryRaw`
        SELECT t.status::text, e.identity_id FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id
        WHERE t.event_id = ${eventId}::uuid AND t.system = 'rocketchat' AND t.action = 'deactivate'`,
      write: (eventId, index) => db.$executeRaw`
        UPDATE target_action SET attempts = ${index} WHERE event_id = ${eventId}::uuid AND system = 'rocketchat' AND action = 'deactivate'`,
    },
    'pg (src/db/sql.ts)': {
      read: (eventId) => sql.query(
        `SELECT t.status::text, e.identity_id FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id
         WHERE t.event_id = $1::uuid AND t.system = 'rocketchat' AND t.action = 'deactivate'`, [eventId]),
      write: (eventId, index) => sql.query(
        `UPDATE target_action SET attempts = $2 WHERE event_id = $1::uuid AND system = 'rocketchat' AND action = 'deactivate'`, [eventId, index]),
    },
  };

  async function measure(path: Path, inFlight: number): Promise<{ us: number; cpuUs: number }> {
    let next = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      for (let index = next++; index < options.statements; index = next++) await path(ids[index % ids.length]!, index);
    }));
    const elapsed = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return { us: (elapsed * 1000) / options.statements, cpuUs: (used.user + used.system) / options.statements };
  }

  const lines = [describeMachine(), `PostgreSQL ${database.version} (${database.description}); ${options.statements} statements per cell`, ''];
  lines.push('| path | read µs, 1 in flight | write µs, 1 in flight | read µs, 8 in flight | write µs, 8 in flight | process CPU µs per statement, 8 in flight |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  // Warm every path first (connections, Prisma's query plan cache, PostgreSQL's plans).
  for (const path of Object.values(paths)) {
    await measure(path.read, 8);
    await measure(path.write, 8);
  }
  // Two rounds, interleaved, so a noisy neighbour hits every path alike; the better round counts.
  const results = new Map<string, number[][]>();
  for (let round = 0; round < 2; round += 1) {
    for (const [name, path] of Object.entries(paths)) {
      const cells = [await measure(path.read, 1), await measure(path.write, 1), await measure(path.read, 8), await measure(path.write, 8)];
      const figures = [...cells.map((cell) => cell.us), (cells[2]!.cpuUs + cells[3]!.cpuUs) / 2];
      const best = results.get(name);
      results.set(name, best ? [best[0]!.map((value, index) => Math.min(value, figures[index]!))] : [figures]);
    }
  }
  for (const [name, [figures]] of results) lines.push(`| ${name} | ${figures!.map((value) => value.toFixed(0)).join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await db.$disconnect();
  await database.drop();
}
