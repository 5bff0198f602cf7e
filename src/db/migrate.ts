// Applies prisma/migrations: each folder's migration.sql in name order, each in one transaction,
// recorded in Prisma's own `_prisma_migrations` table exactly as `prisma migrate deploy` records
// it, so the Prisma CLI (`migrate status`, `migrate diff`, `migrate resolve`) keeps working on the
// same database. Why not the Prisma CLI itself: docs/decisions/029-own-migration-runner.md.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { logger } from '../logger.js';
import { applyApplicationGrants } from './grants.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** prisma/migrations of the checkout: two folders up from src/db, three from the built dist/src/db. */
export const MIGRATIONS_DIR = [path.resolve(here, '..', '..', 'prisma', 'migrations'), path.resolve(here, '..', '..', '..', 'prisma', 'migrations')].find((dir) =>
  existsSync(dir),
) ?? path.resolve(here, '..', '..', 'prisma', 'migrations');

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** The advisory lock key `prisma migrate` takes, so jml and the Prisma CLI never migrate at once. */
const PRISMA_MIGRATE_LOCK = 72707369;

/** The table as Prisma's schema engine creates it (prisma-engines, migration-connector). */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export interface Migration {
  name: string;
  sql: string;
  /** SHA-256 of the file, hex: what Prisma stores as the checksum. */
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

async function appliedMigrations(client: pg.Client): Promise<AppliedRow[] | undefined> {
  // Checked before any CREATE: a role that does not own the schema may still start jml.
  const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists`);
  if (!rows[0]!.exists) return undefined;
  return (await client.query<AppliedRow>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"')).rows;
}

/** The migrations not yet applied; throws when one failed earlier and needs a person. */
function pending(migrations: Migration[], applied: AppliedRow[]): Migration[] {
  const failed = applied.find((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed) {
    throw new MigrationError(
      `Migration ${failed.migration_name} failed earlier and is marked so in _prisma_migrations: fix the database, then \`npx prisma migrate resolve --applied|--rolled-back ${failed.migration_name}\`.`,
    );
  }
  const done = new Map(applied.filter((row) => row.finished_at !== null && row.rolled_back_at === null).map((row) => [row.migration_name, row]));
  for (const migration of migrations) {
    const row = done.get(migration.name);
    if (row && row.checksum !== migration.checksum) {
      logger.warn({ migration: migration.name }, 'an applied migration was edited since it ran: write a new migration instead');
    }
  }
  return migrations.filter((migration) => !done.has(migration.name));
}

/** How many migrations are not applied yet (one query; for commands that must not migrate). */
export async function pendingMigrations(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return pending(readMigrations(), (await appliedMigrations(client)) ?? []).map((migration) => migration.name);
  } finally {
    await client.end();
  }
}

/**
 * 42501 insufficient_privilege: jml runs as the application role, as it should, and the owner has
 * not migrated yet (docs/decisions/037-least-privilege-in-the-database.md).
 */
function ownerHint(error: unknown): string {
  return (error as { code?: string }).code === '42501'
    ? ' This role may not change the schema: run `jml migrate` with the owner\'s credentials (JML_MIGRATE_DATABASE_URL) first.'
    : '';
}

export interface MigrateOptions {
  /** Grant jml_application its privileges even when no migration was pending (`jml migrate`). */
  grants?: boolean;
}

/**
 * Applies what is pending, then (as the owner) the application role's privileges
 * (src/db/grants.ts). The API, the worker and `jml migrate` may start together: the advisory lock
 * serialises them, and the second finds nothing left to apply.
 */
export async function migrateDatabase(databaseUrl: string, migrations = readMigrations(), options: MigrateOptions = {}): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
  } catch (error) {
    throw new MigrationError(`Could not connect to the database to migrate it: ${(error as Error).message}`);
  }
  // A migration's own NOTICE is for the operator (the audit privileges migration says when it
  // could not create its role); PostgreSQL's "already exists, skipping" is not.
  client.on('notice', (notice) => {
    const message = notice.message ?? '';
    if (/already exists, skipping/.test(message)) logger.debug({ component: 'migrate' }, message);
    else logger.warn({ component: 'migrate' }, message);
  });
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    let applied = await appliedMigrations(client);
    const todo = pending(migrations, applied ?? []);
    if (todo.length > 0 && !applied) {
      try {
        await client.query(CREATE_MIGRATIONS_TABLE);
      } catch (error) {
        throw new MigrationError(`Could not create _prisma_migrations: ${(error as Error).message}.${ownerHint(error)}`);
      }
      applied = [];
    }
    for (const migration of todo) {
      const started = new Date();
      try {
        await client.query('BEGIN');
        // One query in the simple protocol: the file's statements run in order, in this transaction.
        await client.query(migration.sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, $4, 1)`,
          [randomUUID(), migration.checksum, migration.name, started],
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw new MigrationError(`Migration ${migration.name} failed and was rolled back: ${(error as Error).message}.${ownerHint(error)}`);
      }
      logger.debug({ migration: migration.name, ms: Date.now() - started.getTime() }, 'applied a migration');
    }
    if (todo.length > 0 || options.grants) await applyApplicationGrants(client);
    return todo.map((migration) => migration.name);
  } finally {
    await client.end().catch(() => {});
  }
}
