// A login role in jml_application, as a deployment creates one (decision 037). Roles are
// cluster-wide and the test PostgreSQL is shared: the name is unique to this run and the role is
// dropped by drop().
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { TestDatabase } from './database.js';

export interface ApplicationLogin {
  role: string;
  /** The test database's URL with this role's credentials. */
  url: string;
  drop(): Promise<void>;
}

export async function createApplicationLogin(database: TestDatabase): Promise<ApplicationLogin> {
  const role = `jml_app_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await database.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}' IN ROLE jml_application`);
  const url = new URL(database.url);
  url.username = role;
  url.password = password;
  return {
    role,
    url: url.toString(),
    // Usually after the database is dropped: so through the admin database, not the test's own.
    async drop() {
      const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
      await admin.connect();
      try {
        await admin.query(`DROP ROLE IF EXISTS "${role}"`);
      } finally {
        await admin.end();
      }
    },
  };
}
