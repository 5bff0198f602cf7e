// The zero-configuration start runs the API and the worker as a login role in jml_application, as
// production does (decision 037): created on first start, its password kept in the data directory,
// and the same role with the same password found again on the next start.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { parseEnvironment } from '../../src/config.js';
import { applicationDatabaseUrl, type ResolvedDatabase } from '../../src/infra/database.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let dataDir: string;
// Roles are cluster-wide: a name of this run's own instead of the embedded database's jml_app.
const login = `jml_app_embedded_${process.pid}_${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = mkdtempSync(path.join(tmpdir(), 'jml-app-role-'));
});

afterAll(async () => {
  await database.drop();
  const admin = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS "${login}"`);
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
});

it('creates the login role once and connects as it: no superuser, no owner', async () => {
  const env = parseEnvironment({ JML_DATA_DIR: dataDir });
  const embedded: ResolvedDatabase = { url: database.url, migrateUrl: database.url, description: 'test', embedded: true, stop: async () => {} };
  const first = await applicationDatabaseUrl(embedded, env, login);
  const again = await applicationDatabaseUrl(embedded, env, login);
  expect(again).toBe(first);
  expect(statSync(path.join(dataDir, 'postgres.app-password')).mode & 0o777).toBe(0o600);
  expect(decodeURIComponent(new URL(first).password)).toBe(readFileSync(path.join(dataDir, 'postgres.app-password'), 'utf8').trim());
  const client = new pg.Client({ connectionString: first });
  await client.connect();
  try {
    const { rows } = await client.query<{ role: string; superuser: boolean; member: boolean }>(
      `SELECT current_user::text AS role, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, pg_has_role(current_user, 'jml_application', 'MEMBER') AS member`,
    );
    expect(rows[0]).toEqual({ role: login, superuser: false, member: true });
  } finally {
    await client.end();
  }
});

it('leaves a configured DATABASE_URL as it is', async () => {
  const configured: ResolvedDatabase = { url: 'postgresql://app@db/jml', migrateUrl: 'postgresql://owner@db/jml', description: 'DATABASE_URL', embedded: false, stop: async () => {} };
  expect(await applicationDatabaseUrl(configured, parseEnvironment({}))).toBe('postgresql://app@db/jml');
});
