// Which PostgreSQL jml uses: DATABASE_URL, or else the embedded one in the data directory. The
// CLI reaches the same embedded database as a running `npm start`, or starts it for the command.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, dataDir, type Environment } from '../config.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { postgresAnswers } from './postgres-server.js';

export interface ResolvedDatabase {
  url: string;
  description: string;
  stop(): Promise<void>;
}

export async function resolveDatabase(env: Environment): Promise<ResolvedDatabase> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, description: 'DATABASE_URL', stop: async () => {} };
  if (env.NODE_ENV === 'production') {
    throw new ConfigError('NODE_ENV=production and DATABASE_URL is not set: the embedded PostgreSQL is for trying jml out; set DATABASE_URL to your PostgreSQL server.');
  }
  const dir = dataDir(env);
  const port = env.JML_EMBEDDED_POSTGRES_PORT;
  const passwordFile = path.join(dir, 'postgres.password');
  if (existsSync(passwordFile)) {
    const url = `postgresql://jml:${readFileSync(passwordFile, 'utf8').trim()}@127.0.0.1:${port}/jml`;
    // Another jml process (npm start) already runs the embedded database: share it.
    if (await postgresAnswers(url, 1500)) return { url, description: `embedded PostgreSQL on 127.0.0.1:${port} (already running)`, stop: async () => {} };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: dir, port });
  return { url: embedded.url, description: `embedded PostgreSQL on 127.0.0.1:${port}, data in ${embedded.clusterDir}`, stop: embedded.stop };
}
