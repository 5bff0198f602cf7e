// Which PostgreSQL jml uses: DATABASE_URL, or else the embedded one in the data directory. The
// CLI reaches the same embedded database as a running `npm start`, or starts it for the command.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { ConfigError, dataDir, type Environment } from '../config.js';
import { APPLICATION_ROLE } from '../db/grants.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { postgresAnswers } from './postgres-server.js';

export interface ResolvedDatabase {
  /** What jml connects as: DATABASE_URL, or the embedded database's owner. */
  url: string;
  /** Who applies migrations: JML_MIGRATE_DATABASE_URL, else `url`. */
  migrateUrl: string;
  description: string;
  /** True for the embedded database, where jml may create its own application login role. */
  embedded: boolean;
  stop(): Promise<void>;
}

export async function resolveDatabase(env: Environment): Promise<ResolvedDatabase> {
  if (env.DATABASE_URL) {
    return { url: env.DATABASE_URL, migrateUrl: env.JML_MIGRATE_DATABASE_URL ?? env.DATABASE_URL, description: 'DATABASE_URL', embedded: false, stop: async () => {} };
  }
  if (env.NODE_ENV === 'production') {
    throw new ConfigError('NODE_ENV=production and DATABASE_URL is not set: the embedded PostgreSQL is for trying jml out; set DATABASE_URL to your PostgreSQL server.');
  }
  const dir = dataDir(env);
  const port = env.JML_EMBEDDED_POSTGRES_PORT;
  const passwordFile = path.join(dir, 'postgres.password');
  if (existsSync(passwordFile)) {
    const url = `postgresql://jml:${readFileSync(passwordFile, 'utf8').trim()}@127.0.0.1:${port}/jml`;
    // Another jml process (npm start) already runs the embedded database: share it.
    if (await postgresAnswers(url, 1500)) {
      return { url, migrateUrl: url, description: `embedded PostgreSQL on 127.0.0.1:${port} (already running)`, embedded: true, stop: async () => {} };
    }
  }
  const embedded = await startEmbeddedPostgres({ dataDir: dir, port });
  return { url: embedded.url, migrateUrl: embedded.url, description: `embedded PostgreSQL on 127.0.0.1:${port}, data in ${embedded.clusterDir}`, embedded: true, stop: embedded.stop };
}

/** The login role the embedded database's API and worker use, as a production deployment would. */
export const EMBEDDED_APPLICATION_LOGIN = 'jml_app';

/**
 * The URL the API and the worker connect with. For the embedded database: a login role in
 * jml_application, created (or its password reset) here, so a trial runs with the same privileges
 * as production and a missing grant shows up on the developer's machine. Call after migrating.
 */
export async function applicationDatabaseUrl(database: ResolvedDatabase, env: Environment, login = EMBEDDED_APPLICATION_LOGIN): Promise<string> {
  if (!database.embedded) return database.url;
  const passwordFile = path.join(dataDir(env), 'postgres.app-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const owner = new pg.Client({ connectionString: database.migrateUrl });
  await owner.connect();
  try {
    const role = owner.escapeIdentifier(login);
    const secret = owner.escapeLiteral(password);
    // One round trip: create the role on first start, keep its password equal to the file after.
    await owner.query(`DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${owner.escapeLiteral(login)}) THEN
        ALTER ROLE ${role} LOGIN NOSUPERUSER PASSWORD ${secret};
      ELSE
        CREATE ROLE ${role} LOGIN PASSWORD ${secret} IN ROLE ${owner.escapeIdentifier(APPLICATION_ROLE)};
      END IF;
    END $$`);
  } finally {
    await owner.end();
  }
  const url = new URL(database.url);
  url.username = login;
  url.password = password;
  return url.toString();
}
