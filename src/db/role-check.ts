// The API and the worker should run as a role that can neither bypass nor rewrite the audit
// trail's protections: a superuser bypasses every privilege and trigger, and whoever owns a table
// can ALTER it, disable its triggers and grant itself UPDATE (decision 010). jml still starts,
// trials run that way, but says so once, loudly, at start-up.
import type { Database } from './client.js';
import { logger } from '../logger.js';

export interface DatabaseRole {
  role: string;
  superuser: boolean;
  /** Tables in schema public that this role owns, directly or through a role it belongs to. */
  ownedTables: number;
}

export async function databaseRole(db: Database): Promise<DatabaseRole> {
  const [row] = await db.$queryRaw<{ role: string; superuser: boolean; owned: number }[]>`
    SELECT current_user::text AS role,
           (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
           (SELECT count(*)::int FROM pg_tables WHERE schemaname = 'public' AND pg_has_role(current_user, tableowner, 'USAGE')) AS owned`;
  return { role: row!.role, superuser: row!.superuser, ownedTables: row!.owned };
}

/** Logs one warning when jml's database role is a superuser or owns its tables; returns the finding. */
export async function warnWhenPrivileged(db: Database, processRole: string): Promise<DatabaseRole> {
  const found = await databaseRole(db);
  if (found.superuser || found.ownedTables > 0) {
    const what = found.superuser ? 'a superuser' : `the owner of ${found.ownedTables} table(s)`;
    logger.warn(
      { dbRole: found.role, superuser: found.superuser, ownedTables: found.ownedTables, process: processRole },
      `UNSAFE DATABASE ROLE: jml's ${processRole} connects as "${found.role}", ${what}, so it could switch off the audit trail's protections; connect as a login role in jml_application and keep the owner for \`jml migrate\` (docs/decisions/037-least-privilege-in-the-database.md)`,
    );
  }
  return found;
}
