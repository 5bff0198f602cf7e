// A PostgreSQL server for tests and benchmarks: DATABASE_URL, else the local server on
// 127.0.0.1:5432 when it answers, else an embedded one in a scratch directory that stop() removes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './free-port.js';

const LOCAL_POSTGRES = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface PostgresServer {
  /** A URL with rights to create and drop databases. */
  adminUrl: string;
  description: string;
  stop(): Promise<void>;
}

export async function postgresAnswers(url: string, timeoutMs = 2000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
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

/** The same server, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function obtainPostgresServer(options: { skipLocal?: boolean } = {}): Promise<PostgresServer> {
  if (process.env.DATABASE_URL) return { adminUrl: process.env.DATABASE_URL, description: 'DATABASE_URL', stop: async () => {} };
  if (!options.skipLocal && (await postgresAnswers(LOCAL_POSTGRES))) {
    return { adminUrl: LOCAL_POSTGRES, description: 'local server on 127.0.0.1:5432', stop: async () => {} };
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'jml-pg-'));
  try {
    const embedded = await startEmbeddedPostgres({ dataDir: scratch, port: await freePort() });
    return {
      adminUrl: embedded.url,
      description: 'embedded-postgres',
      async stop() {
        await embedded.stop();
        rmSync(scratch, { recursive: true, force: true });
        // As root with an unreachable TMPDIR, the cluster lives outside the scratch folder.
        rmSync(embedded.clusterDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
}
