// The infrastructure a benchmark run needs, found the way the tests find it: PostgreSQL from
// DATABASE_URL, else the local server on 127.0.0.1:5432 when it answers, else an embedded one
// (JML_BENCH_EMBEDDED_POSTGRES=1 skips the local server);
// Temporal from TEMPORAL_ADDRESS, else a throwaway dev server. Everything it creates it removes.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrateDatabase } from '../../src/db/migrate.js';
import { startEmbeddedPostgres } from '../../src/infra/embedded-postgres.js';
import { freePort, obtainTemporalServer, type TemporalServer } from '../../src/infra/temporal-server.js';

const LOCAL_POSTGRES = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  /** The migrated benchmark database. */
  url: string;
  /** Where the server came from, and its version, for the report. */
  description: string;
  version: string;
  drop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Creates and migrates `jml_bench_<pid>` on whichever PostgreSQL server is available. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  let adminUrl = process.env.DATABASE_URL;
  let description = 'DATABASE_URL';
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!adminUrl && !process.env.JML_BENCH_EMBEDDED_POSTGRES && (await answers(LOCAL_POSTGRES))) {
    adminUrl = LOCAL_POSTGRES;
    description = 'local server on 127.0.0.1:5432';
  }
  if (!adminUrl) {
    const scratch = mkdtempSync(path.join(tmpdir(), 'jml-bench-pg-'));
    // mkdtemp makes it 0700; when we are root, PostgreSQL runs as `postgres` and must get through.
    chmodSync(scratch, 0o755);
    const embedded = await startEmbeddedPostgres({ dataDir: scratch, port: await freePort() }).catch((error: unknown) => {
      rmSync(scratch, { recursive: true, force: true });
      throw error;
    });
    adminUrl = embedded.url;
    description = 'embedded-postgres';
    stopEmbedded = async () => {
      await embedded.stop();
      rmSync(scratch, { recursive: true, force: true });
    };
  }
  const name = `jml_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = withDatabase(adminUrl, name);
  try {
    await migrateDatabase(url);
  } catch (error) {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await stopEmbedded?.();
    throw error;
  }
  return {
    url,
    description,
    version: rows[0]?.server_version ?? 'unknown',
    async drop() {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
      await stopEmbedded?.();
    },
  };
}

/** TEMPORAL_ADDRESS, else a dev server on a free loopback port that `stop()` ends. */
export async function obtainBenchTemporal(): Promise<TemporalServer> {
  return obtainTemporalServer({ port: await freePort(), namespace: 'default' });
}
