// Third-party SCIM conformance suites run against jml and against the bare scimmy-routers server
// with an in-memory Map (bench/reference-scimmy-server.ts), in the same run, with the pass counts
// printed side by side and every check one side fails and the other passes named.
//
//   node --import tsx bench/conformance.ts --suites DIR [--only go,node,python] [--verbose 1] [--profile generic]
//   node --import tsx bench/conformance.ts --serve 1   # both servers, their URLs and tokens, until ^C
//
// The suites are other people's code and are not part of jml: put a checkout of each under DIR
// (any folder that is missing is reported as not run). Tested with these commits:
//
//   DIR/scim2-test-suite   https://github.com/scim2/test-suite          3d80a46970a02ce114efeeb38f3f112b5d736d16  (Go: `go test`, modules from the Go module proxy)
//   DIR/scimverify         https://github.com/limosa-io/scimverify      a2e652c9097d782f6a5059b11bbf1d3fb593a4b3  (Node's test runner; `npm ci` in it once for axios and dotenv)
//   DIR/scim2-tester       https://github.com/python-scim/scim2-tester  84e6560b2d7f0ee4aa042cf0b40ff547802ee208  (Python 3.10+, with pydantic 2)
//   DIR/scim2-client       https://github.com/python-scim/scim2-client  cc7195f49343f6e6a33e9c96b1bd098f7ae7ee4d  (scim2-tester's dependencies, used from source)
//   DIR/scim2-models       https://github.com/python-scim/scim2-models  d5db17c56b10314c26c746113ab83fe1d1115fe1
//
// e.g. `git clone https://github.com/scim2/test-suite DIR/scim2-test-suite && git -C DIR/scim2-test-suite checkout 3d80a46`.
// scim2-tester needs httpx and email-validator, which a machine without PyPI may lack: when Python
// cannot import them, this script puts two small stand-ins of its own on PYTHONPATH (httpx's
// Client over `requests`, and an email check), enough for the calls scim2-client makes.
//
// Both servers are asked exactly the same things: jml with a `generic` profile token (or --profile's) over a fresh
// migrated database (no Temporal: outbox rows wait, which SCIM answers do not depend on), the
// reference in a child process of its own, since scimmy's resource declarations are process-wide.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createApp } from '../src/app.js';
import { createAccessTokenService } from '../src/auth/access-tokens.js';
import { AuthFailureGuard } from '../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../src/auth/tokens.js';
import { createDatabase } from '../src/db/client.js';
import { logger } from '../src/logger.js';
import { CLIENT_PROFILES, type ClientProfile } from '../src/scim/dialect/index.js';
import type { ReferenceProcessApi } from './reference-scimmy-server.js';
import { startChild } from './support/child.js';
import { log, parseOptions } from './support/harness.js';
import { createBenchDatabase } from './support/infra.js';

interface Target {
  name: 'jml' | 'reference';
  url: string;
  token: string;
}

/** One check of a suite: its name and whether it passed; `counted` false for skipped checks. */
interface Check {
  name: string;
  passed: boolean;
  detail?: string;
}

interface SuiteRun {
  checks: Check[];
  /** What the suite itself said when it could not run at all. */
  failure?: string;
}

interface Suite {
  key: 'go' | 'node' | 'python';
  title: string;
  folder: string;
  run(folder: string, target: Target, scratch: string): Promise<SuiteRun>;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function runCommand(command: string, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15 * 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** scim2/test-suite: one `[PASS|FAIL|WARN|SKIP] name` line per check, a message line under it. */
function parseGoSuite(output: string): Check[] {
  const checks: Check[] = [];
  const lines = output.split('\n');
  for (const [index, line] of lines.entries()) {
    const match = /^ {2}\[(PASS|FAIL|WARN|SKIP)\] (.+)$/.exec(line);
    if (!match || match[1] === 'SKIP') continue;
    const next = lines[index + 1] ?? '';
    // WARN is the suite's "SHOULD not met": counted as not passed, as the suite counts it.
    checks.push({ name: match[2]!.trim(), passed: match[1] === 'PASS', detail: /^ {9}/.test(next) ? next.trim() : undefined });
  }
  return checks;
}

/** Node's TAP reporter: `ok N - name` / `not ok N - name` per test, nested by indentation. */
function parseTap(output: string): Check[] {
  const checks: Check[] = [];
  const lines = output.split('\n');
  for (const [index, line] of lines.entries()) {
    const match = /^(\s*)(not ok|ok) \d+ - (.+?)(?: # (SKIP|TODO).*)?$/.exec(line);
    if (!match || match[4]) continue;
    // A suite's own line follows its children's: a line whose next non-blank lines are its
    // YAML block with `type: 'suite'` is a group, not a test.
    const block = lines.slice(index + 1, index + 6).join('\n');
    if (/type: 'suite'/.test(block)) continue;
    const error = /error: \|?-?\s*\n?\s*'?([^\n']+)/.exec(block)?.[1]?.trim();
    checks.push({ name: match[3]!, passed: match[2] === 'ok', detail: match[2] === 'ok' ? undefined : error });
  }
  return checks;
}

/** scim2-tester's CLI: `STATUS title [resource]`, the reason indented under it. */
function parseScim2Tester(output: string): Check[] {
  const checks: Check[] = [];
  const lines = output.split('\n');
  const seen = new Map<string, number>();
  for (const [index, line] of lines.entries()) {
    const match = /^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) (.+)$/.exec(line);
    if (!match || match[1] === 'SKIPPED') continue;
    // The same check runs once per resource type and sometimes per attribute: number repeats so
    // the two servers' lists line up by name.
    const base = match[2]!.trim();
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    const next = lines[index + 1] ?? '';
    checks.push({
      name: count === 1 ? base : `${base} #${count}`,
      // scim2-tester's own scale: ERROR and CRITICAL break a MUST; DEVIATION a SHOULD.
      passed: !['ERROR', 'CRITICAL', 'DEVIATION'].includes(match[1]!),
      detail: /^ {3}/.test(next) ? `${match[1]}: ${next.trim()}` : match[1],
    });
  }
  return checks;
}

// Stand-ins for two Python packages scim2-tester needs that a machine without PyPI may not have.
// They implement only what scim2-client's httpx engine and pydantic's EmailStr call.
const HTTPX_STAND_IN = `
import requests as _requests

class RequestError(Exception):
    pass

Response = _requests.Response

class Client:
    def __init__(self, base_url="", headers=None, **_):
        self.base_url = base_url.rstrip("/")
        self._session = _requests.Session()
        self._session.headers.update(headers or {})

    def _url(self, url):
        url = str(url)
        return url if "://" in url else self.base_url + "/" + url.lstrip("/")

    def request(self, method, url, json=None, params=None, headers=None, **_):
        try:
            return self._session.request(method, self._url(url), json=json, params=params, headers=headers, timeout=30)
        except _requests.RequestException as error:
            raise RequestError(str(error)) from error

    def get(self, url, **kwargs): return self.request("GET", url, **kwargs)
    def post(self, url, **kwargs): return self.request("POST", url, **kwargs)
    def put(self, url, **kwargs): return self.request("PUT", url, **kwargs)
    def patch(self, url, **kwargs): return self.request("PATCH", url, **kwargs)
    def delete(self, url, **kwargs): return self.request("DELETE", url, **kwargs)

class AsyncClient:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("the conformance run uses the synchronous client only")
`;

const EMAIL_VALIDATOR_STAND_IN = `
import re as _re

class EmailNotValidError(ValueError):
    pass

class _Parts:
    def __init__(self, email):
        self.normalized = email
        self.local_part = email.split("@", 1)[0]

def validate_email(email, check_deliverability=False, **_):
    if not _re.fullmatch(r"[^@\\s]+@[^@\\s]+", email):
        raise EmailNotValidError("not an email address")
    return _Parts(email)
`;

async function pythonStandIns(scratch: string, python: string): Promise<string> {
  const folder = path.join(scratch, 'python-stand-ins');
  mkdirSync(folder, { recursive: true });
  const probe = await runCommand(python, ['-c', 'import httpx'], { cwd: scratch });
  if (probe.code !== 0) writeFileSync(path.join(folder, 'httpx.py'), HTTPX_STAND_IN);
  const emailProbe = await runCommand(python, ['-c', 'import email_validator'], { cwd: scratch });
  if (emailProbe.code !== 0) {
    mkdirSync(path.join(folder, 'email_validator'), { recursive: true });
    writeFileSync(path.join(folder, 'email_validator', '__init__.py'), EMAIL_VALIDATOR_STAND_IN);
    // pydantic asks importlib.metadata for email-validator's major version.
    mkdirSync(path.join(folder, 'email_validator-2.0.0.dist-info'), { recursive: true });
    writeFileSync(path.join(folder, 'email_validator-2.0.0.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: email-validator\nVersion: 2.0.0\n');
  }
  return folder;
}

const suites: Suite[] = [
  {
    key: 'go',
    title: 'scim2/test-suite (Go, RFC 7643/7644 requirements)',
    folder: 'scim2-test-suite',
    async run(folder, target, scratch) {
      const result = await runCommand(
        'go',
        ['test', './compliance', '-run', 'TestCompliance', '-count=1', '-v', '-args', `-scim.url=${target.url}`, `-scim.token=${target.token}`, `-scim.report=${path.join(scratch, `go-${target.name}.txt`)}`],
        { cwd: folder, env: { GOFLAGS: '-mod=mod' } },
      );
      const checks = parseGoSuite(result.stdout);
      return { checks, failure: checks.length === 0 ? `exit ${result.code}: ${result.stdout}${result.stderr}`.slice(-2000) : undefined };
    },
  },
  {
    key: 'node',
    title: 'limosa-io/scimverify (Node test runner)',
    folder: 'scimverify',
    async run(folder, target) {
      if (!existsSync(path.join(folder, 'node_modules', 'axios'))) {
        log('scimverify: npm ci (axios, dotenv)');
        const installed = await runCommand('npm', ['ci', '--no-audit', '--no-fund'], { cwd: folder });
        if (installed.code !== 0) return { checks: [], failure: installed.stderr.slice(-2000) };
      }
      const result = await runCommand(process.execPath, ['--test', '--test-reporter=tap', 'scim.test.js'], {
        cwd: folder,
        env: { BASE_URL: target.url, TOKEN: target.token },
      });
      const checks = parseTap(result.stdout);
      return { checks, failure: checks.length === 0 ? `exit ${result.code}: ${result.stdout}${result.stderr}`.slice(-2000) : undefined };
    },
  },
  {
    key: 'python',
    title: 'python-scim/scim2-tester (Python)',
    folder: 'scim2-tester',
    async run(folder, target, scratch) {
      const python = process.env.PYTHON ?? 'python3';
      const parent = path.dirname(folder);
      const standIns = await pythonStandIns(scratch, python);
      // scim2_tester.cli defines cli() without a __main__ guard: call it.
      const result = await runCommand(python, ['-c', 'from scim2_tester.cli import cli; cli()', target.url, '--token', target.token], {
        cwd: folder,
        env: { PYTHONPATH: [standIns, folder, path.join(parent, 'scim2-client'), path.join(parent, 'scim2-models')].join(path.delimiter) },
      });
      const checks = parseScim2Tester(result.stdout);
      return { checks, failure: checks.length === 0 ? `exit ${result.code}: ${result.stdout}${result.stderr}`.slice(-2000) : undefined };
    },
  },
];

async function startJmlScim(databaseUrl: string, profile: ClientProfile): Promise<{ target: Target; close: () => Promise<void> }> {
  const db = createDatabase(databaseUrl);
  const authFailures = new AuthFailureGuard({ db, logger });
  const accessTokens = createAccessTokenService({ db });
  const app = createApp({
    db,
    oauth: { db, logger, accessTokens, authFailures },
    scim: {
      db,
      verifyToken: createTokenVerifier({ db }),
      authFailures,
      accessTokens,
      maxBodyBytes: 256 * 1024,
      logger,
      lifecycle: { systems: ['rocketchat', 'mendix', 'userapi'], queuePrefix: 'conformance', retryDeadlineMs: 60_000 },
      onOutboxWritten: () => {},
    },
  });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { token } = await createToken(db, { name: 'conformance', kind: 'scim', profile });
  return {
    target: { name: 'jml', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2`, token },
    async close() {
      await new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      });
      await db.$disconnect();
    },
  };
}

function report(suite: Suite, runs: Record<Target['name'], SuiteRun>, verbose: boolean): string {
  const lines = [`## ${suite.title}`];
  const passed = (run: SuiteRun) => run.checks.filter((check) => check.passed).length;
  for (const name of ['jml', 'reference'] as const) {
    const run = runs[name];
    lines.push(`${name.padEnd(10)} ${run.failure ? `did not run: ${run.failure.split('\n').filter(Boolean).slice(-3).join(' | ')}` : `${passed(run)} passed of ${run.checks.length}`}`);
  }
  const reference = new Map(runs.reference.checks.map((check) => [check.name, check]));
  const jml = new Map(runs.jml.checks.map((check) => [check.name, check]));
  const only = (a: Map<string, Check>, b: Map<string, Check>) => [...a.values()].filter((check) => !check.passed && b.get(check.name)?.passed !== false);
  const both = [...jml.values()].filter((check) => !check.passed && reference.get(check.name)?.passed === false);
  const section = (title: string, checks: Check[]) => {
    if (checks.length === 0) return;
    lines.push(`${title} (${checks.length}):`);
    for (const check of checks) lines.push(`  - ${check.name}${check.detail ? `\n      ${check.detail.slice(0, 300)}` : ''}`);
  };
  section('failed by jml only', only(jml, reference));
  section('failed by the reference only', only(reference, jml));
  if (verbose) section('failed by both', both);
  else if (both.length > 0) lines.push(`failed by both: ${both.length} (--verbose 1 lists them)`);
  return lines.join('\n');
}

const options = parseOptions(
  z.object({
    suites: z.string().min(1).optional(),
    serve: z.coerce.boolean().default(false),
    // What a new user's token gets; `okta` and the others take the RFC's branch where generic is lenient (decision 030).
    profile: z.enum(CLIENT_PROFILES).default('generic'),
    only: z.string().default('go,node,python'),
    verbose: z.coerce.boolean().default(false),
  }),
  ['suites', 'only', 'verbose', 'serve', 'profile'],
);
if (!options.suites && !options.serve) {
  process.stderr.write('--suites DIR is required (or --serve 1); see the header of bench/conformance.ts\n');
  process.exit(2);
}
// jml's log lines (a suite's bad requests among them) would bury the report: warnings and up only
// with LOG_LEVEL set.
logger.level = process.env.LOG_LEVEL ?? 'silent';
const chosen = suites.filter((suite) => options.only.split(',').includes(suite.key));
const scratch = mkdtempSync(path.join(tmpdir(), 'jml-conformance-'));
const database = await createBenchDatabase();
const reference = startChild<ReferenceProcessApi>(here('./reference-scimmy-server.ts'), { LOG_LEVEL: 'silent' });
let jml: Awaited<ReturnType<typeof startJmlScim>> | undefined;
try {
  jml = await startJmlScim(database.url, options.profile);
  const referenceTarget: Target = { name: 'reference', ...(await reference.call('start')) };
  if (options.serve) {
    // To run one suite's check by hand against both, or to read what a failing check sent.
    for (const target of [jml.target, referenceTarget]) process.stdout.write(`${target.name.padEnd(10)} ${target.url}  Bearer ${target.token}\n`);
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
  const sections: string[] = [];
  for (const suite of options.suites ? chosen : []) {
    const folder = path.resolve(options.suites!, suite.folder);
    if (!existsSync(folder)) {
      sections.push(`## ${suite.title}\nnot run: ${folder} does not exist (see the header of bench/conformance.ts)`);
      continue;
    }
    const runs = {} as Record<Target['name'], SuiteRun>;
    // jml first, then the reference, each with a fresh scratch folder; the two never overlap.
    for (const target of [jml.target, referenceTarget]) {
      log(`${suite.key}: against ${target.name}`);
      runs[target.name] = await suite.run(folder, target, scratch);
    }
    sections.push(report(suite, runs, options.verbose));
  }
  process.stdout.write(`# SCIM conformance suites: jml (${options.profile} profile) vs the bare scimmy-routers server (in-memory Map)\n\n${sections.join('\n\n')}\n`);
} finally {
  await jml?.close();
  await reference.stop();
  await database.drop();
  rmSync(scratch, { recursive: true, force: true });
}
