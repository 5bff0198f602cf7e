// Least privilege in the database (docs/decisions/037-least-privilege-in-the-database.md): every
// table, as the application role sees it. The role can do what jml's code needs (shown by running
// jml itself as that role, SCIM joiner to leaver through the real Temporal server), and cannot
// change audit rows, alter or drop a table, switch a trigger off or create tables of its own.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseRole, warnWhenPrivileged } from '../../src/db/role-check.js';
import { logger } from '../../src/logger.js';
import { migrateDatabase, readMigrations } from '../../src/db/migrate.js';
import { createApplicationLogin, type ApplicationLogin } from '../support/application-role.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

// What each table must allow, written out independently of src/db/grants.ts: a change there that
// widens or narrows a table's privileges fails here until someone decides it on purpose.
const EXPECTED: Record<string, string[]> = {
  identity: ['SELECT', 'INSERT', 'UPDATE'],
  lifecycle_event: ['SELECT', 'INSERT', 'UPDATE'],
  target_action: ['SELECT', 'INSERT', 'UPDATE'],
  account_link: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  scim_group: ['SELECT', 'INSERT', 'UPDATE'],
  group_member: ['SELECT', 'INSERT', 'DELETE'],
  outbox: ['SELECT', 'INSERT', 'UPDATE'],
  api_token: ['SELECT', 'INSERT', 'UPDATE'],
  oauth_client: ['SELECT', 'INSERT', 'UPDATE'],
  oauth_client_secret: ['SELECT', 'INSERT', 'UPDATE'],
  oauth_signing_key: ['SELECT', 'INSERT'],
  audit_event: ['SELECT', 'INSERT'],
  audit_chain_head: ['SELECT', 'UPDATE'],
  audit_verification: ['SELECT', 'INSERT'],
  audit_checkpoint: ['SELECT'],
  reconcile_run: ['SELECT', 'INSERT', 'UPDATE'],
  reconcile_finding: ['SELECT', 'INSERT', 'UPDATE'],
  scim_bulk_request: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  scim_bulk_operation: ['SELECT', 'INSERT', 'DELETE'],
  hr_webhook_delivery: ['SELECT', 'INSERT', 'DELETE'],
  _prisma_migrations: ['SELECT'],
};
const PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];

let jml: TestSystem;
let login: ApplicationLogin;
let app: pg.Client;
let tables: string[];

beforeAll(async () => {
  jml = await startTestSystem({ applicationRole: true });
  login = await createApplicationLogin(jml.database);
  app = new pg.Client({ connectionString: login.url });
  await app.connect();
  tables = (await jml.database.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).map((row) => row.tablename);
});

afterAll(async () => {
  await app?.end();
  await jml?.close();
  await login?.drop();
});

describe('the application role, table by table', () => {
  it('holds exactly the privileges the code needs on each table, and none that rewrite a table', async () => {
    const held: Record<string, string[]> = {};
    for (const table of tables) {
      const { rows } = await app.query<{ privilege: string; held: boolean }>(
        `SELECT p AS privilege, has_table_privilege(current_user, $1::regclass, p) AS held FROM unnest($2::text[]) AS p`,
        [`"${table}"`, PRIVILEGES],
      );
      held[table] = rows.filter((row) => row.held).map((row) => row.privilege);
    }
    for (const [table, privileges] of Object.entries(EXPECTED)) expect({ table, privileges: held[table] }).toEqual({ table, privileges });
    // A table added later without an entry above still must not be truncatable or triggerable.
    for (const table of tables.filter((name) => !(name in EXPECTED))) {
      expect({ table, privileges: held[table]!.filter((privilege) => ['TRUNCATE', 'REFERENCES', 'TRIGGER'].includes(privilege)) }).toEqual({ table, privileges: [] });
    }
  });

  it('may update only the chain columns of audit_event', async () => {
    const { rows } = await app.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_event' AND has_column_privilege(current_user, 'audit_event', column_name, 'UPDATE') ORDER BY column_name`,
    );
    expect(rows.map((row) => row.column_name)).toEqual(['hash', 'prev_hash', 'seq']);
  });

  it('owns nothing and is no superuser', async () => {
    const url = new URL(login.url);
    const { rows } = await app.query<{ superuser: boolean; owned: number }>(
      `SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
              (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owned`,
    );
    expect({ role: decodeURIComponent(url.username), ...rows[0] }).toEqual({ role: login.role, superuser: false, owned: 0 });
  });

  it('cannot alter, drop or switch off the triggers of any table', async () => {
    for (const table of tables) {
      await expect(app.query(`ALTER TABLE "${table}" DISABLE TRIGGER ALL`), table).rejects.toThrow(/must be owner/);
      await expect(app.query(`ALTER TABLE "${table}" ADD COLUMN mallory text`), table).rejects.toThrow(/must be owner/);
      await expect(app.query(`DROP TABLE "${table}"`), table).rejects.toThrow(/must be owner/);
    }
  });

  it.each([
    ['UPDATE an audit row', `UPDATE audit_event SET actor = 'mallory'`, /permission denied for table audit_event/],
    ['DELETE audit rows', 'DELETE FROM audit_event', /permission denied for table audit_event/],
    ['DELETE a checkpoint', 'DELETE FROM audit_checkpoint', /permission denied for table audit_checkpoint/],
    ['TRUNCATE the outbox', 'TRUNCATE outbox', /permission denied for table outbox/],
    ['DELETE an identity', 'DELETE FROM identity', /permission denied for table identity/],
    ['rewrite the migration history', `DELETE FROM "_prisma_migrations"`, /permission denied for table _prisma_migrations/],
    ['switch triggers off for its session', `SET session_replication_role = replica`, /permission denied to set parameter/],
    ['create a table of its own', 'CREATE TABLE mallory (id int)', /permission denied for schema public/],
  ])('is refused: %s', async (_what, sql, refusal) => {
    await expect(app.query(sql)).rejects.toThrow(refusal);
  });

  it('does what jml needs: a joiner, a group, a mover, a membership removed and a leaver, run by jml as this role', async () => {
    const { scim, simulators } = jml;
    expect(await databaseRole(jml.system.db)).toMatchObject({ superuser: false, ownedTables: 0 });
    simulators.simulators.seedFromIdentity({ userName: 'least', email: 'least@example.com', externalId: 'emp-37' });
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: 'least', externalId: 'emp-37', active: true, emails: [{ value: 'least@example.com', primary: true }] });
    expect(created.status).toBe(201);
    const group = await scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'engineering', members: [{ value: created.body.id }] });
    expect(group.status).toBe(201);
    const removed = await scim.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${created.body.id}"]` }] });
    expect(removed.status).toBeLessThan(300);
    const moved = await scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Engineer' }] });
    expect(moved.status).toBe(200);
    const left = await scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(left.status).toBe(200);
    const [leaver] = await jml.database.query<{ workflow_id: string }>(`SELECT workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [created.body.id]);
    const outcomes = await jml.resultOf(leaver!.workflow_id);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['succeeded', 'verified', 'verified']);
    const deleted = await scim.delete(`/Users/${created.body.id}`);
    expect(deleted.status).toBe(204);
    // Every row the work wrote is in the audit trail, and jml linked it into the chain as this role.
    await expect.poll(async () => (await jml.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_event WHERE seq IS NULL`))[0]!.n, { timeout: 15_000 }).toBe(0);
  });
});

describe('the start-up check', () => {
  it('warns once, loudly, when jml connects as a superuser or an owner, and is quiet as the application role', async () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    try {
      expect(await warnWhenPrivileged(jml.database.db, 'API')).toMatchObject({ superuser: true });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![1])).toMatch(/^UNSAFE DATABASE ROLE: jml's API connects as "[^"]+", a superuser/);
      await warnWhenPrivileged(jml.system.db, 'API');
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('migrating', () => {
  it('as the application role, with a migration pending, fails and says to run `jml migrate` as the owner', async () => {
    const sql = 'CREATE TABLE "least_privilege_probe" (id int);';
    const extra = { name: '29991231000000_probe', sql, checksum: createHash('sha256').update(sql).digest('hex') };
    await expect(migrateDatabase(login.url, [...readMigrations(), extra])).rejects.toThrow(/permission denied.*`jml migrate` with the owner's credentials \(JML_MIGRATE_DATABASE_URL\)/s);
    expect(await jml.database.query(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1`, [extra.name])).toEqual([]);
  });

  it('`jml migrate` needs only the owner\'s URL, as the compose file\'s one-shot service runs it (production, no DATABASE_URL)', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    const { DATABASE_URL: _unused, ...inherited } = process.env;
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], {
      cwd: root,
      env: { ...inherited, NODE_ENV: 'production', JML_MIGRATE_DATABASE_URL: jml.database.url, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect({ status: run.status, stdout: run.stdout, stderr: run.stderr }).toEqual({ status: 0, stdout: 'The database is up to date.\n', stderr: '' });
  });

  it('as the owner, `jml migrate` on an up-to-date database re-applies the grants and changes nothing else', async () => {
    await jml.database.query(`GRANT DELETE ON identity TO jml_application`);
    await expect(migrateDatabase(jml.database.url, undefined, { grants: true })).resolves.toEqual([]);
    const [row] = await app.query<{ delete: boolean }>(`SELECT has_table_privilege('identity', 'DELETE') AS delete`).then((result) => result.rows);
    expect(row).toEqual({ delete: false });
  });
});
