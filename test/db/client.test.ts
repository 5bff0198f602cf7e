// The Prisma client over pg when PostgreSQL drops a connection in the middle of a transaction:
// the pool must not lose the connection, or after `poolSize` such losses every query waits
// forever (docs/decisions/012-recovery-after-outages.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let db: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  // One connection: losing it once is enough to hang the next query.
  db = createDatabase(database.url, { poolSize: 1, connectionWaitMs: 2000 });
});

afterAll(async () => {
  await db.$disconnect();
  await database.drop();
});

/** Ends the transaction's connection from outside, as a PostgreSQL restart would. */
async function terminateOwnConnection(tx: Parameters<Parameters<Database['$transaction']>[0]>[0]) {
  const [backend] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  await database.query('SELECT pg_terminate_backend($1)', [backend!.pid]);
}

/**
 * The pool serves a query again. The first may still meet the dead connection, handed back just
 * before pg saw the socket close; a lost connection would instead make every query wait forever
 * (the test then times out).
 */
async function servesQueriesAgain(): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const answered = await db.$queryRaw<{ one: number }[]>`SELECT 1 AS one`.then(
      (rows) => rows[0]?.one === 1,
      () => false,
    );
    if (answered) return true;
  }
  return false;
}

describe('createDatabase', () => {
  it('keeps its pool whole when COMMIT fails on a lost connection', async () => {
    const failed = await db.$transaction(terminateOwnConnection).then(() => 'committed', (error: unknown) => error);
    expect(failed).toBeInstanceOf(Error);
    expect(await servesQueriesAgain()).toBe(true);
  }, 20_000);

  it('keeps its pool whole when ROLLBACK fails on a lost connection, and reports the first error', async () => {
    const failed = await db
      .$transaction(async (tx) => {
        await terminateOwnConnection(tx);
        throw new Error('the work failed');
      })
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({ message: 'the work failed' });
    expect(await servesQueriesAgain()).toBe(true);
  }, 20_000);
});
