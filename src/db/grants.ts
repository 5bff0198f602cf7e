// What the API and the worker may do in the database, table by table
// (docs/decisions/037-least-privilege-in-the-database.md). The privileges belong to the NOLOGIN
// group role jml_application (decision 010); a deployment gives it to the login role jml
// connects as, and keeps the owner's credentials for `jml migrate` alone.
//
// Applied by the migration runner, as the owner, after every run that applied a migration and at
// every `jml migrate`: idempotent, so a role a DBA creates after the migrations ran gets its
// privileges at the next `jml migrate`. A table listed here gets exactly these privileges (REVOKE
// ALL first); a table missing from this list keeps what its own migration granted.
import type pg from 'pg';
import { logger } from '../logger.js';

export const APPLICATION_ROLE = 'jml_application';

type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** Table: the privileges the code needs on it; `columns` lists UPDATE granted on those columns only. */
export const APPLICATION_GRANTS: Record<string, { table: Privilege[]; columns?: { UPDATE: string[] } }> = {
  identity: { table: ['SELECT', 'INSERT', 'UPDATE'] }, // SCIM DELETE sets deleted_at: the row is evidence
  lifecycle_event: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  target_action: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  // An account the vendor says is gone is unlinked (src/activities/target-action.ts).
  account_link: { table: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
  scim_group: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  // Membership is a set: removing a member deletes its row (src/scim/groups.ts).
  group_member: { table: ['SELECT', 'INSERT', 'DELETE'] },
  outbox: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  api_token: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  oauth_client: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  oauth_client_secret: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  oauth_signing_key: { table: ['SELECT', 'INSERT'] },
  // Append only; the integrator links rows into the chain by writing these three columns once,
  // from NULL, which the table's trigger enforces (decision 016).
  audit_event: { table: ['SELECT', 'INSERT'], columns: { UPDATE: ['seq', 'prev_hash', 'hash'] } },
  audit_chain_head: { table: ['SELECT', 'UPDATE'] },
  audit_verification: { table: ['SELECT', 'INSERT'] },
  audit_verified_anchor: { table: ['SELECT', 'INSERT'] },
  // Archiving deletes audit rows: only the owner does that (`jml audit archive`, decision 010).
  audit_checkpoint: { table: ['SELECT'] },
  // Reconciliation records its runs and findings, and marks what it did about each finding.
  reconcile_run: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  reconcile_finding: { table: ['SELECT', 'INSERT', 'UPDATE'] },
  // Bulk requests sent with an Idempotency-Key and their operations' results, pruned after a day
  // (src/scim/bulk-idempotency.ts); the HR webhook's replay store, pruned after its window.
  scim_bulk_request: { table: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
  scim_bulk_operation: { table: ['SELECT', 'INSERT', 'DELETE'] },
  hr_webhook_delivery: { table: ['SELECT', 'INSERT', 'DELETE'] },
  // Read at start-up to refuse a database that needs migrating; only `jml migrate` writes it.
  _prisma_migrations: { table: ['SELECT'] },
};

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

function grantStatements(): string[] {
  const role = quoted(APPLICATION_ROLE);
  const statements = [`GRANT USAGE ON SCHEMA public TO ${role}`, `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`];
  for (const [table, grant] of Object.entries(APPLICATION_GRANTS)) {
    statements.push(`REVOKE ALL ON ${quoted(table)} FROM ${role}`, `GRANT ${grant.table.join(', ')} ON ${quoted(table)} TO ${role}`);
    if (grant.columns) statements.push(`GRANT UPDATE (${grant.columns.UPDATE.map(quoted).join(', ')}) ON ${quoted(table)} TO ${role}`);
  }
  return statements;
}

export class ApplicationRoleMissing extends Error {
  override readonly name = 'ApplicationRoleMissing';
}

/**
 * Creates jml_application NOLOGIN when it is missing and the migrating role may create roles
 * (superuser or CREATEROLE), then grants it exactly APPLICATION_GRANTS. Returns false, after one
 * warning that says what to run, when the role neither exists nor can be created: a plain owner
 * may not create roles, and the migration must still succeed for it.
 */
export async function applyApplicationGrants(client: pg.Client): Promise<boolean> {
  const [me] = (await client.query<{ exists: boolean; may_create: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists,
            (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) AS may_create`,
    [APPLICATION_ROLE],
  )).rows;
  if (!me!.exists && !me!.may_create) {
    logger.warn(
      { component: 'migrate' },
      `role ${APPLICATION_ROLE} does not exist and this role may not create it: as an administrator run CREATE ROLE ${APPLICATION_ROLE} NOLOGIN, then \`jml migrate\` again (docs/decisions/037-least-privilege-in-the-database.md)`,
    );
    return false;
  }
  const present = new Set(
    (await client.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`, [Object.keys(APPLICATION_GRANTS)])).rows.map(
      (row) => row.tablename,
    ),
  );
  await client.query('BEGIN');
  try {
    if (!me!.exists) {
      // Two migrating processes may race to create it (roles are cluster-wide): either may win.
      await client.query(`DO $$ BEGIN CREATE ROLE ${quoted(APPLICATION_ROLE)} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`);
    }
    for (const statement of grantStatements()) {
      const table = /ON "([^"]+)" (?:TO|FROM)/.exec(statement)?.[1];
      if (table === undefined || present.has(table)) await client.query(statement);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
  return true;
}
