// Hot-path SQL's prepared statements (src/db/sql.ts, decision 058): a text is prepared once per
// connection under a name of its own and run again by that name; two texts never share a name; a
// connection that PostgreSQL replaced prepares it again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.js';
import { sqlOf } from '../../src/db/sql.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  // One connection: every statement below meets the statements prepared before it.
  db = createDatabase(database.url, { poolSize: 1 });
});

afterAll(async () => {
  await db.$disconnect();
  await database.drop();
});

const DOUBLE = 'SELECT $1::int * 2 AS value';
const TRIPLE = 'SELECT $1::int * 3 AS value';

describe('sqlOf(db).prepared', () => {
  it('prepares each text once on the connection, under a name of its own, and runs it again by that name', async () => {
    const sql = sqlOf(db);
    expect(await sql.prepared<{ value: number }>(DOUBLE, [2])).toEqual([{ value: 4 }]);
    expect(await sql.prepared<{ value: number }>(TRIPLE, [2])).toEqual([{ value: 6 }]);
    expect(await sql.prepared<{ value: number }>(DOUBLE, [5])).toEqual([{ value: 10 }]);
    const prepared = await sql.query<{ name: string; statement: string }>(`SELECT name, statement FROM pg_prepared_statements ORDER BY statement`);
    expect(prepared.map((row) => row.statement)).toEqual([DOUBLE, TRIPLE]);
    expect(new Set(prepared.map((row) => row.name)).size).toBe(2);
    expect(prepared.every((row) => row.name.startsWith('jml_'))).toBe(true);
  });

  it('prepares the text again on the connection that replaced one PostgreSQL closed', async () => {
    const sql = sqlOf(db);
    expect(await sql.prepared<{ value: number }>(DOUBLE, [1])).toEqual([{ value: 2 }]);
    const [backend] = await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await database.query('SELECT pg_terminate_backend($1)', [backend!.pid]);
    // The first statement may still meet the closed connection; the pool then replaces it.
    let answer: { value: number }[] | undefined;
    for (let attempt = 0; attempt < 3 && !answer; attempt++) answer = await sql.prepared<{ value: number }>(DOUBLE, [7]).catch(() => undefined);
    expect(answer).toEqual([{ value: 14 }]);
    const [now] = await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(now!.pid).not.toBe(backend!.pid);
  });
});
