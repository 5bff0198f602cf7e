// The commands that need no database load none of its modules, nor the environment's or the
// logger's (issue 17: the CLI answers in about a second). `jml verify-bundle` is an auditor's
// offline check and `jml audit keygen` runs before a deployment exists: neither may pull in the
// Prisma client, its pg adapter, pg, zod, pino or the Temporal SDK (together about half a second of
// CPU before the first line of output). Each command runs as `jml` runs it in a checkout (tsx, then
// src/cli/main.ts), with hooks that record every module resolved (test/support/import-trace-hooks.js).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Packages and folders of the database, the environment, the logger and Temporal. */
const HEAVY = /\/node_modules\/(@prisma\/|prisma\/|pg\/|pg-[a-z-]+\/|zod\/|pino\/|@temporalio\/)|\/src\/(generated|db)\/|\/src\/(config|environment|logger)\.ts$/;

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'jml-import-graph-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * What the commands that read the database must not load: the servers' modules (the Temporal SDK,
 * express, scimmy, the metrics registry, the app's assembly) and Node's fetch (undici), which pg's
 * Cloudflare probe loads on Node 20 unless `navigator` is there (src/cli/main.ts, loadPg).
 */
const SERVER = /\/node_modules\/(@temporalio\/|express\/|scimmy-routers\/|prom-client\/)|\/src\/(system|app)\.ts$|\/src\/(temporal|api|ui)\/|^node-internal:.*undici/;
/** The SCIM library and jml's SCIM modules: only the SCIM intake and what writes identities need them. */
const SCIM = /\/node_modules\/scimmy\/|\/src\/scim\//;

/**
 * Runs `jml <args>` from the sources and answers its exit code, output, the modules it resolved
 * and, as `node-internal:<name>`, Node's own fetch modules it loaded (process.moduleLoadList).
 * Without `databaseUrl` no database may be needed: a command that reached for one would fail.
 */
function runTraced(args: string[], databaseUrl = 'postgresql://jml@127.0.0.1:1/none') {
  const trace = path.join(scratch, 'modules.txt');
  writeFileSync(trace, '');
  const hooks = pathToFileURL(path.join(root, 'test', 'support', 'import-trace-hooks.js')).href;
  const register =
    `import { register } from 'node:module'; import { appendFileSync } from 'node:fs'; register(${JSON.stringify(hooks)}, { data: { file: ${JSON.stringify(trace)} } });` +
    `process.on('exit', () => appendFileSync(${JSON.stringify(trace)}, process.moduleLoadList.filter((name) => name.includes('undici')).map((name) => 'node-internal:' + name + '\\n').join('')));`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  env.DATABASE_URL = databaseUrl;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(register)}`, 'src/cli/main.ts', ...args], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const modules = [...new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean))];
  return { status: result.status, output: `${result.stdout}${result.stderr}`, modules };
}

describe('the import graph of the commands that need no database', () => {
  it('jml verify-bundle loads the bundle verifier and none of the database, environment, logger or Temporal modules', () => {
    const bundle = path.join(scratch, 'evidence.zip');
    writeFileSync(bundle, 'not a zip');
    const { status, output, modules } = runTraced(['verify-bundle', bundle]);
    expect(output).toContain('BUNDLE DOES NOT VERIFY');
    expect(status).toBe(1);
    expect(modules.some((url) => url.endsWith('/src/audit/bundle-verify.ts'))).toBe(true);
    expect(modules.filter((url) => HEAVY.test(url))).toEqual([]);
  });

  it('jml audit keygen and the usage load none of them either', () => {
    const keygen = runTraced(['audit', 'keygen', '--out', path.join(scratch, 'checkpoint.key')]);
    expect(keygen.status, keygen.output).toBe(0);
    expect(keygen.modules.some((url) => url.endsWith('/src/cli/keygen.ts'))).toBe(true);
    expect(keygen.modules.filter((url) => HEAVY.test(url))).toEqual([]);

    const usage = runTraced(['--help']);
    expect(usage.status).toBe(0);
    expect(usage.output).toContain('Usage: jml <command>');
    expect(usage.modules.filter((url) => HEAVY.test(url))).toEqual([]);
  });
});

describe('the import graph of the commands that read the database', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  // Each answers from an empty database, as it would from a full one: the same modules load.
  it.each([
    [['report', 'deprovisioning'], 'src/audit/report.ts', 'Time to deprovision'],
    [['audit', 'verify'], 'src/audit/verify.ts', 'Audit chain intact'],
    [['evidence', 'nobody@example.com'], 'src/audit/evidence.ts', 'nobody@example.com'],
    [['reconcile', 'show'], 'src/reconcile/operations.ts', 'No reconciliation runs yet'],
  ])('jml %j loads no server module (Temporal, express, metrics, the app), no SCIM module and not fetch', (args, own, says) => {
    const { output, modules } = runTraced(args, database.url);
    expect(output).toContain(says);
    expect(modules.some((url) => url.endsWith(own))).toBe(true);
    expect(modules.filter((url) => SERVER.test(url) || SCIM.test(url))).toEqual([]);
  });
});
