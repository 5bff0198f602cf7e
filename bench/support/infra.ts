// The infrastructure a benchmark run needs, found the way the tests find it: PostgreSQL from
// DATABASE_URL, else the local server on 127.0.0.1:5432 when it answers, else an embedded one
// (JML_BENCH_EMBEDDED_POSTGRES=1 skips the local server);
// Temporal from TEMPORAL_ADDRESS, else a throwaway dev server. Everything it creates it removes.
import pg from 'pg';
import { migrateDatabase } from '../../src/db/migrate.js';
import { obtainPostgresServer, withDatabase } from '../../src/infra/postgres-server.js';
import { freePort, obtainTemporalServer, type TemporalServer } from '../../src/infra/temporal-server.js';

export interface BenchDatabase {
  /** The migrated benchmark database. */
  url: string;
  /** Where the server came from, and its version, for the report. */
  description: string;
  version: string;
  drop(): Promise<void>;
}

/** Creates and migrates `jml_bench_<pid>` on whichever PostgreSQL server is available. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const server = await obtainPostgresServer({ skipLocal: Boolean(process.env.JML_BENCH_EMBEDDED_POSTGRES) });
  const name = `jml_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = withDatabase(server.adminUrl, name);
  try {
    await migrateDatabase(url);
  } catch (error) {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await server.stop();
    throw error;
  }
  return {
    url,
    description: server.description,
    version: rows[0]?.server_version ?? 'unknown',
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
      await server.stop();
    },
  };
}

/** TEMPORAL_ADDRESS, else a dev server on a free loopback port that `stop()` ends. */
export async function obtainBenchTemporal(): Promise<TemporalServer> {
  return obtainTemporalServer({ port: await freePort(), namespace: 'default' });
}
