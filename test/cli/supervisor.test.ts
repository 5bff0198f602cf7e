// `npm start`'s default shape: one supervisor, the API and the worker as two child processes.
// A crashed child comes back; SIGTERM to the supervisor takes everything down, children first. A
// child stopped by its configuration (PORT taken by another program) is not restarted: jml stops
// at once with that one message and EX_CONFIG.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { EXIT_CONFIG } from '../../src/config.js';
import { freePort } from '../../src/infra/temporal-server.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let database: TestDatabase;
let supervisor: ChildProcess | undefined;
let output = '';
let port: number;

/** The supervisor's jml children (tsx's esbuild service is a child process too). */
const childrenOf = (pid: number) =>
  spawnSync('pgrep', ['-P', String(pid), '-f', 'start --role (api|worker)'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);
const isFree = (candidate: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(candidate, '127.0.0.1', () => server.close(() => resolve(true)));
  });
const roleOf = (pid: number) => spawnSync('pgrep', ['-P', String(supervisor!.pid), '-f', 'start --role worker'], { encoding: 'utf8' }).stdout.split('\n').includes(String(pid)) ? 'worker' : 'api';
/** What the scheduler weighs a process by: its autogroup's nice value where Linux has autogroups, and each thread's own. */
const niceOf = (pid: number) => ({
  autogroup: existsSync(`/proc/${pid}/autogroup`) ? Number(/nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'))![1]) : undefined,
  threads: existsSync(`/proc/${pid}/task`) ? [...new Set(readdirSync(`/proc/${pid}/task`).map((thread) => os.getPriority(Number(thread))))] : [os.getPriority(pid)],
});
const expectNice = (pid: number, nice: number) => {
  const seen = niceOf(pid);
  if (seen.autogroup !== undefined) expect(seen.autogroup).toBe(nice);
  expect(seen.threads).toEqual([nice]);
};
const alive = (pid: number) => spawnSync('kill', ['-0', String(pid)]).status === 0;

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(10_000) })).ok;
  } catch {
    return false;
  }
}

// Generous: three Node processes load the TypeScript sources on a shared 2-core machine.
async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s:\n${output.slice(-3000)}`);
    await sleep(200);
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  // The worker listens on PORT + 1: both must be free.
  do port = await freePort();
  while (!(await isFree(port + 1)));
});

afterAll(async () => {
  if (supervisor && supervisor.exitCode === null) supervisor.kill('SIGKILL');
  await database?.drop();
});

describe('npm start: the API and the worker as two supervised processes', () => {
  it('runs both, restarts a crashed one, and stops everything on SIGTERM', async () => {
    supervisor = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), PORT: String(port), HOST: '127.0.0.1', TEMPORAL_TASK_QUEUE: `supervisor-${process.pid}`, LOG_LEVEL: 'error', JML_WORKER_NICE: undefined, MALLOC_ARENA_MAX: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => supervisor!.once('exit', (code) => resolve(code)));
    supervisor.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    supervisor.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => output.includes('jml is running'), 'the start-up banner');

    expect(output).toContain('API and worker, two processes');
    expect(output).toContain(`http://127.0.0.1:${port}/scim/v2`);
    // Two children: the API on PORT, the worker's health check on PORT + 1.
    const [first, second] = childrenOf(supervisor.pid!);
    expect(childrenOf(supervisor.pid!)).toHaveLength(2);
    await waitFor(async () => (await answers(`http://127.0.0.1:${port}/health`)) && answers(`http://127.0.0.1:${port + 1}/health`), 'both health checks');
    // The worker runs below the API's CPU priority, at JML_WORKER_NICE's default of 10 (decision 028).
    // It is lowered once it reports ready, a moment after its health check answers.
    await waitFor(() => niceOf(childrenOf(supervisor!.pid!).find((pid) => roleOf(pid) === 'worker')!).threads[0] === 10, 'the worker lowered');
    for (const pid of [first!, second!]) expectNice(pid, roleOf(pid) === 'worker' ? 10 : 0);
    // The worker alone starts with two glibc malloc arenas (decision 020, "Memory outside the heap").
    const arenasOf = (pid: number) => /(?:^|\0)MALLOC_ARENA_MAX=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];
    for (const pid of [first!, second!]) expect(arenasOf(pid), roleOf(pid)).toBe(roleOf(pid) === 'worker' ? '2' : undefined);

    // A child killed as a crash would be is started again, and the other one is left alone.
    process.kill(second!, 'SIGKILL');
    await waitFor(() => childrenOf(supervisor!.pid!).length === 2 && !childrenOf(supervisor!.pid!).includes(second!), 'the restart');
    expect(alive(first!)).toBe(true);
    await waitFor(async () => (await answers(`http://127.0.0.1:${port}/health`)) && answers(`http://127.0.0.1:${port + 1}/health`), 'both health checks');
    expect(output).toMatch(/process exited \(SIGKILL\); restarting it/);
    // A restarted worker is lowered again.
    await waitFor(() => niceOf(childrenOf(supervisor!.pid!).find((pid) => roleOf(pid) === 'worker')!).threads[0] === 10, 'the restarted worker lowered');
    for (const pid of childrenOf(supervisor.pid!)) expectNice(pid, roleOf(pid) === 'worker' ? 10 : 0);

    const children = childrenOf(supervisor.pid!);
    supervisor.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of children) expect(alive(pid)).toBe(false);
    expect(await answers(`http://127.0.0.1:${port}/health`)).toBe(false);
  }, 600_000);

  it('stops at once, saying so, when another program has its port', async () => {
    let taken: number;
    do taken = await freePort();
    while (!(await isFree(taken + 1)));
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    try {
      let said = '';
      const started = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: database.url, TEMPORAL_ADDRESS: inject('temporalAddress'), PORT: String(taken), HOST: '127.0.0.1', TEMPORAL_TASK_QUEUE: `supervisor-taken-${process.pid}`, LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
      started.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => started.once('exit', (exitCode) => resolve(exitCode)));
      expect(code, said).toBe(EXIT_CONFIG);
      expect(said).toContain(`jml cannot listen on 127.0.0.1:${taken}: another program is using it (EADDRINUSE)`);
      expect(said).toMatch(/the api process cannot start with this configuration/);
      expect(said).not.toMatch(/restarting it/);
      expect(said).not.toContain('jml is running');
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  }, 300_000);
});
