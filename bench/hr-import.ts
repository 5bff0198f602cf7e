// HR CSV import (issue 16, decision 025): a 10,000-row export through `importHrChanges`, the code
// `jml hr import` and the page run, on a migrated database with 10,000 people. Prints the dry
// run, the apply and the re-import of the same file (which must change nothing), and the floor
// measured in the same run: the same changed rows as bare single-row UPDATEs through the pg pool,
// as many in flight as the import applies at once, no lifecycle, no audit.
//
//   node --import tsx bench/hr-import.ts --rows 10000
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Principal } from '../src/auth/tokens.js';
import { createDatabase } from '../src/db/client.js';
import { sqlOf } from '../src/db/sql.js';
import { importHrChanges } from '../src/hr/import.js';
import { parseMapping } from '../src/hr/mapping.js';
import type { ScimDependencies } from '../src/scim/users.js';
import { countOption, log, parseOptions } from './support/harness.js';
import { createBenchDatabase } from './support/infra.js';
import { describeMachine } from './support/machine.js';

const options = parseOptions(z.object({ rows: countOption(10_000) }), ['rows']);
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: 8 });
try {
  log(`seeding ${options.rows} people`);
  const people = Array.from({ length: options.rows }, (_, index) => ({ userName: `hr${index}`, externalId: `W${100000 + index}`, department: 'Engineering' }));
  for (let start = 0; start < people.length; start += 2000) {
    await db.identity.createMany({
      data: people.slice(start, start + 2000).map((person) => ({
        userName: person.userName,
        externalId: person.externalId,
        department: person.department,
        resource: { schemas: [CORE, ENTERPRISE], userName: person.userName, externalId: person.externalId, active: true, [ENTERPRISE]: { department: person.department } },
      })),
    });
  }

  // A tenth leave now, three tenths get a future termination date, three tenths move, the rest stay.
  const future = '2099-06-30';
  const lines = ['Worker ID,Employment Status,Termination Date,Cost Center Department'];
  people.forEach((person, index) => {
    const slot = index % 10;
    const status = slot === 0 ? 'Terminated' : 'Active';
    const date = slot >= 1 && slot <= 3 ? future : '';
    const department = slot >= 4 && slot <= 6 ? 'Sales' : person.department;
    lines.push(`${person.externalId},${status},${date},${department}`);
  });
  const csv = `${lines.join('\r\n')}\r\n`;
  const mapping = parseMapping(
    {
      person: { column: 'Worker ID', attribute: 'externalId' },
      columns: { active: 'Employment Status', terminationDate: 'Termination Date', department: 'Cost Center Department' },
      activeValues: { active: ['Active'], inactive: ['Terminated'] },
    },
    'bench',
  );
  const intake: ScimDependencies = {
    db,
    lifecycle: { systems: ['rocketchat', 'mendix', 'userapi'], queuePrefix: 'bench', retryDeadlineMs: 60_000, guard: true },
    onOutboxWritten: () => {},
  };
  const principal: Principal = { tokenId: 'bench', name: 'bench', kind: 'operator' };
  const run = async (dryRun: boolean) => {
    const started = performance.now();
    const report = await importHrChanges(intake, { csv, mapping, fileName: 'bench.csv', dryRun, principal });
    return { report, ms: performance.now() - started };
  };
  const countEvents = async () => db.lifecycleEvent.count();

  log('dry run');
  const dry = await run(true);
  log(`apply (${dry.report.changes.length} changes)`);
  const applied = await run(false);
  if (applied.report.errors.length > 0 || applied.report.failed.length > 0) throw new Error(`the import refused rows: ${JSON.stringify(applied.report.errors.slice(0, 3))}`);
  const eventsAfterApply = await countEvents();
  log('re-import of the same file');
  const again = await run(false);
  const eventsAfterAgain = await countEvents();
  if (again.report.changes.length !== 0 || again.report.applied !== 0 || eventsAfterAgain !== eventsAfterApply) {
    throw new Error(`re-importing changed something: ${again.report.changes.length} changes, events ${eventsAfterApply} -> ${eventsAfterAgain}`);
  }

  // The floor: the same number of single-row UPDATEs, 4 in flight like the import's apply.
  log('floor: bare UPDATEs');
  const sql = sqlOf(db);
  const ids = (await db.identity.findMany({ select: { id: true }, take: applied.report.applied, orderBy: { id: 'asc' } })).map((row) => row.id);
  let next = 0;
  const floorStarted = performance.now();
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let index = next++; index < ids.length; index = next++) await sql.query('UPDATE identity SET title = $2, version = version + 1 WHERE id = $1::uuid', [ids[index], 'bench']);
  }));
  const floorMs = performance.now() - floorStarted;

  const kinds = applied.report.changes.reduce<Record<string, number>>((counts, change) => {
    const kind = change.kind === 'leaver' && change.effectiveAt ? 'future leaver' : change.kind;
    counts[kind] = (counts[kind] ?? 0) + 1;
    return counts;
  }, {});
  const perRow = (ms: number, rows: number) => `${((ms * 1000) / Math.max(rows, 1)).toFixed(0)} µs/row`;
  process.stdout.write(
    [
      describeMachine(),
      `PostgreSQL ${database.version} (${database.description}); ${options.rows} rows, ${(csv.length / 1024).toFixed(0)} KiB`,
      '',
      '| step | rows changed | time | per row | ratio to floor |',
      '|---|---:|---:|---:|---:|',
      `| dry run (parse, match, plan) | 0 of ${options.rows} | ${(dry.ms / 1000).toFixed(2)} s | ${perRow(dry.ms, options.rows)} | – |`,
      `| apply (${Object.entries(kinds).map(([kind, count]) => `${count} ${kind}`).join(', ')}) | ${applied.report.applied} | ${(applied.ms / 1000).toFixed(2)} s | ${perRow(applied.ms, applied.report.applied)} | ${(applied.ms / floorMs).toFixed(1)}× |`,
      `| re-import of the same file | ${again.report.applied} (unchanged ${again.report.unchanged}) | ${(again.ms / 1000).toFixed(2)} s | ${perRow(again.ms, options.rows)} | – |`,
      `| floor: ${ids.length} bare single-row UPDATEs, 4 in flight | ${ids.length} | ${(floorMs / 1000).toFixed(2)} s | ${perRow(floorMs, ids.length)} | 1× |`,
      '',
      `Lifecycle events recorded by the apply: ${eventsAfterApply}; after the re-import: ${eventsAfterAgain}.`,
      '',
    ].join('\n'),
  );
} finally {
  await db.$disconnect();
  await database.drop();
}
