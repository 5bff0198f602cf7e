// Ctrl-C on `npm start` with the zero-configuration defaults: the terminal sends SIGINT to the whole
// foreground process group. The embedded PostgreSQL and the Temporal dev server must not get it
// (they died before the worker, which then retried a gone Temporal and exited with a fatal line):
// the supervisor stops the API, the worker, Temporal and PostgreSQL in that order, and everything
// exits cleanly, leaving no process behind. A supervisor killed with SIGKILL leaves none either.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/infra/free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXIT_DEADLINE_MS = 60_000;

/** Every live descendant of `pid` (the API, the worker, tsx's helpers, the servers and watchdogs). */
function descendantsOf(pid: number): number[] {
  const table = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const commandOf = (pid: number) => spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

async function freePorts(): Promise<{ api: number; postgres: number; temporal: number }> {
  // The worker listens on PORT + 1, the dev server's web UI on its port + 1000.
  let api: number;
  do api = await freePort();
  while (!(await isFree(api + 1)));
  let temporal: number;
  do temporal = await freePort();
  while (temporal + 1000 > 65535 || !(await isFree(temporal + 1000)));
  return { api, postgres: await freePort(), temporal };
}

interface Started {
  supervisor: ChildProcess;
  exited: Promise<number | null>;
  output: () => string;
  processes: number[];
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** `npm start` after its bootstrap, in a process group of its own as a terminal would run it. */
async function startJml(extraEnv: NodeJS.ProcessEnv = {}): Promise<Started> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jml-ctrl-c-'));
  const ports = await freePorts();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JML_DATA_DIR: dataDir,
    JML_EMBEDDED_POSTGRES_PORT: String(ports.postgres),
    JML_TEMPORAL_DEV_PORT: String(ports.temporal),
    PORT: String(ports.api),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...extraEnv,
  };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'JML_MIGRATE_DATABASE_URL', 'NODE_ENV']) delete env[name];
  const supervisor = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  supervisor.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  supervisor.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => supervisor.once('exit', (code) => resolve(code)));
  const found: { clusterDir?: string } = {};
  cleanups.push(() => {
    // Whatever the test's outcome: no process and no folder left behind.
    for (const pid of [supervisor.pid!, ...descendantsOf(supervisor.pid!)]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
    // As root from a folder the postgres user cannot enter, the cluster lives under /var/lib/jml.
    if (found.clusterDir && !found.clusterDir.startsWith(dataDir)) rmSync(found.clusterDir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 300_000;
  while (!output.includes('jml is running')) {
    if (Date.now() > deadline || supervisor.exitCode !== null) throw new Error(`jml did not start:\n${output.slice(-4000)}`);
    await sleep(200);
  }
  found.clusterDir = /data in (\S+)/.exec(output)?.[1];
  const processes = descendantsOf(supervisor.pid!);
  const commands = processes.map(commandOf).join('\n');
  // The API, the worker, the embedded PostgreSQL and the Temporal dev server all run.
  expect(commands).toMatch(/start --role api/);
  expect(commands).toMatch(/start --role worker/);
  expect(commands).toMatch(/postgres -D /);
  expect(commands).toMatch(/temporal server start-dev/);
  return { supervisor, exited, output: () => output, processes };
}

/** The supervisor's four charges, found by their command lines. */
function chargesOf(processes: number[]): Record<'api' | 'worker' | 'temporal' | 'postgres', number> {
  const find = (pattern: RegExp) => {
    const pid = processes.find((candidate) => pattern.test(commandOf(candidate)));
    if (pid === undefined) throw new Error(`no process matches ${pattern}`);
    return pid;
  };
  return { api: find(/start --role api/), worker: find(/start --role worker/), temporal: find(/temporal server start-dev/), postgres: find(/postgres -D /) };
}

/** When each process was first seen gone (ms after `since`), polling every 50 ms. */
async function exitTimes<K extends string>(pids: Record<K, number>, since: number): Promise<Record<K, number>> {
  const times: Partial<Record<K, number>> = {};
  const names = Object.keys(pids) as K[];
  const deadline = since + EXIT_DEADLINE_MS;
  while (names.some((name) => times[name] === undefined) && Date.now() < deadline) {
    for (const name of names) if (times[name] === undefined && !alive(pids[name])) times[name] = Date.now() - since;
    await sleep(50);
  }
  return times as Record<K, number>;
}

async function allGone(pids: number[]): Promise<number[]> {
  const deadline = Date.now() + EXIT_DEADLINE_MS;
  while (pids.some(alive) && Date.now() < deadline) await sleep(200);
  return pids.filter(alive);
}

/** What the scheduler weighs a process by: its autogroup's nice value where Linux has autogroups, else its main thread's. */
const niceOf = (pid: number) =>
  existsSync(`/proc/${pid}/autogroup`)
    ? Number(/nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'))![1])
    : Number(spawnSync('ps', ['-o', 'nice=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());

/** Lines pino wrote at error (50) or fatal (60). */
const errorLines = (output: string) => output.split('\n').filter((line) => /"level":(50|60)/.test(line));

describe('npm start with the embedded defaults', () => {
  it('stops everything in order on Ctrl-C (SIGINT to the whole process group), cleanly, leaving nothing running', async () => {
    const jml = await startJml();
    const charges = chargesOf(jml.processes);
    // A terminal signals its foreground process group: the supervisor's. None of its charges is in it.
    const groupOf = (pid: number) => Number(spawnSync('ps', ['-o', 'pgid=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());
    for (const [name, pid] of Object.entries(charges)) expect(groupOf(pid), name).not.toBe(groupOf(jml.supervisor.pid!));
    const sent = Date.now();
    process.kill(-jml.supervisor.pid!, 'SIGINT');
    const gone = await exitTimes(charges, sent);
    const code = await Promise.race([jml.exited, sleep(EXIT_DEADLINE_MS).then(() => 'timeout' as const)]);
    expect(code, jml.output().slice(-4000)).toBe(0);
    // In order: nothing the API or the worker still needs went before them.
    expect(gone.api, JSON.stringify(gone)).toBeLessThanOrEqual(gone.worker);
    expect(gone.worker, JSON.stringify(gone)).toBeLessThanOrEqual(gone.temporal);
    expect(gone.temporal, JSON.stringify(gone)).toBeLessThanOrEqual(gone.postgres);
    expect(await allGone(jml.processes), jml.output().slice(-4000)).toEqual([]);
    expect(errorLines(jml.output())).toEqual([]);
    // The worker went while Temporal still answered: it did not retry a server that was gone.
    expect(jml.output()).not.toMatch(/describe_namespace|DescribeNamespace/i);
  }, 600_000);

  it('leaves no server running when the supervisor is killed with SIGKILL', async () => {
    // The worker and the dev server below the API's CPU priority (decision 028); checked here, where
    // no orderly stop waits for the lowered processes.
    const jml = await startJml({ JML_WORKER_NICE: '10' });
    const charges = chargesOf(jml.processes);
    // The fan-out (the worker and the Temporal dev server) yields the CPU to the intake (the API and PostgreSQL).
    expect({ api: niceOf(charges.api), worker: niceOf(charges.worker), temporal: niceOf(charges.temporal), postgres: niceOf(charges.postgres) }).toEqual({
      api: 0,
      worker: 10,
      temporal: 10,
      postgres: 0,
    });
    process.kill(jml.supervisor.pid!, 'SIGKILL');
    await jml.exited;
    // The API and the worker follow their IPC channel; the servers their watchdog's pipe.
    expect(await allGone(jml.processes), jml.processes.filter(alive).map(commandOf).join('\n')).toEqual([]);
  }, 600_000);
});
