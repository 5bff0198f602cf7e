// The database privileges of decision 010: the application, connected as a login role that was
// given jml_application (and owns nothing, and is no superuser), can append to the audit trail
// but cannot change, delete or truncate its rows, nor alter the table or switch its trigger off.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { AuditIntegrator } from '../../src/audit/integrator.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createDatabase, type Database } from '../../src/db/client.js';
import { migrateDatabase } from '../../src/db/migrate.js';
import { createApplicationLogin, type ApplicationLogin } from '../support/application-role.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let role: string;
let login: ApplicationLogin;
let app: Database;
let appSql: pg.Client;
let appUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  // What the decision record tells a deployer to run, once, as an administrator.
  login = await createApplicationLogin(database);
  role = login.role;
  appUrl = login.url;
  app = createDatabase(appUrl, { poolSize: 2 });
  appSql = new pg.Client({ connectionString: appUrl });
  await appSql.connect();
});

afterAll(async () => {
  await appSql.end();
  await app.$disconnect();
  await database.drop();
  await login.drop();
});

describe('the application role', () => {
  it('is neither a superuser nor the owner of the audit table', async () => {
    const [me] = (await appSql.query<{ rolsuper: boolean; owner: string }>(
      `SELECT r.rolsuper, t.tableowner AS owner FROM pg_roles r, pg_tables t WHERE r.rolname = current_user AND t.tablename = 'audit_event'`,
    )).rows;
    expect(me).toEqual({ rolsuper: false, owner: expect.not.stringMatching(role) as unknown });
  });

  it('appends audit rows, integrates them, moving the chain head, and does its ordinary work', async () => {
    await app.$transaction(async (tx) => {
      const identity = await tx.identity.create({ data: { userName: 'grace', resource: { userName: 'grace' } } });
      await appendAudit(tx, [{ actor: 'okta', action: 'scim.user.created', identityId: identity.id, data: { userName: 'grace' } }]);
    });
    await app.$transaction((tx) => appendAudit(tx, [{ actor: 'system', action: 'test.second' }]));
    expect(await verifyChain(app)).toMatchObject({ ok: true, rowsChecked: 0, pending: { rows: 2 } });
    expect(await new AuditIntegrator({ db: app }).integrateAll()).toBe(2);
    expect(await verifyChain(app)).toMatchObject({ ok: true, rowsChecked: 2, head: { seq: 2n }, pending: { rows: 0 } });
  });

  it('may write a row\'s chain columns only from NULL, through the trigger', async () => {
    // The column grant lets the integrator link rows; the trigger refuses every rewrite.
    await expect(appSql.query(`UPDATE audit_event SET seq = 99 WHERE seq = 1`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(appSql.query(`UPDATE audit_event SET hash = repeat('a', 64) WHERE seq = 2`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(appSql.query(`UPDATE audit_event SET actor = 'mallory', seq = 3`)).rejects.toThrow(/permission denied for table audit_event/);
  });

  it('starts like jml does: migrating a database the owner already migrated applies nothing', async () => {
    await expect(migrateDatabase(appUrl)).resolves.toEqual([]);
  });

  it('cannot grant itself UPDATE or DELETE on audit_event', async () => {
    // PostgreSQL only warns ("no privileges were granted"): what counts is what the role holds after.
    await appSql.query('GRANT UPDATE, DELETE ON audit_event TO CURRENT_USER');
    const [held] = (await appSql.query<{ update: boolean; delete: boolean; insert: boolean }>(
      `SELECT has_table_privilege('audit_event', 'UPDATE') AS update, has_table_privilege('audit_event', 'DELETE') AS delete, has_table_privilege('audit_event', 'INSERT') AS insert`,
    )).rows;
    expect(held).toEqual({ update: false, delete: false, insert: true });
  });

  it.each([
    ['UPDATE', `UPDATE audit_event SET actor = 'mallory'`, /permission denied for table audit_event/],
    ['DELETE', 'DELETE FROM audit_event', /permission denied for table audit_event/],
    ['TRUNCATE', 'TRUNCATE audit_event', /permission denied for table audit_event/],
    ['DISABLE TRIGGER', 'ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only', /must be owner of table audit_event/],
    ['DROP TRIGGER', 'DROP TRIGGER audit_event_append_only ON audit_event', /must be owner of (table|relation) audit_event/],
    ['ALTER TABLE', 'ALTER TABLE audit_event ADD COLUMN note text', /must be owner of table audit_event/],
    ['replace the trigger function', `CREATE OR REPLACE FUNCTION audit_event_reject_change() RETURNS trigger LANGUAGE sql AS 'SELECT NULL'`, /must be owner of function|permission denied/],
    ['replace the chain hash function', `CREATE OR REPLACE FUNCTION jml_audit_chain_hash(text, text, bigint) RETURNS text LANGUAGE sql AS 'SELECT NULL'`, /must be owner of function|permission denied/],
  ])('is refused %s on audit_event', async (_what, sql, refusal) => {
    await expect(appSql.query(sql)).rejects.toThrow(refusal);
    // Nothing changed: the rows still verify and the trigger is still on.
    expect((await verifyChain(app)).ok).toBe(true);
    const [trigger] = await database.query<{ tgenabled: string }>(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_event_append_only'`);
    expect(trigger?.tgenabled).toBe('O');
  });
});
