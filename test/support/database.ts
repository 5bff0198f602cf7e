// A database of the test file's own, cloned from the migrated template (fast: no migration run).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.js';

export interface TestDatabase {
  url: string;
  db: Database;
  /** Runs SQL as the admin user in this database (for tampering tests and direct checks). */
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `jml_test_${process.ppid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${inject('templateDatabase')}"`);
  await admin.end();
  const parsed = new URL(adminUrl);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  const db = createDatabase(url);
  const direct = new pg.Pool({ connectionString: url, max: 2 });
  // drop() ends this database with FORCE; an idle connection it kills must not fail the run.
  direct.on('error', () => {});
  return {
    url,
    db,
    async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
      return (await direct.query<T>(sql, params)).rows;
    },
    async drop() {
      await db.$disconnect();
      await direct.end();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
