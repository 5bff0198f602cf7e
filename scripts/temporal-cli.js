// Finds (or builds) the Temporal CLI that provides the local dev server. Plain JavaScript so the
// bootstrap can run it before any dependency is installed; runtime code imports it too, so the
// search order lives in one place (docs/decisions/001-temporal-server.md).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** The newest CLI tag whose go.mod has no `replace` directive, so `go install` works. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

/** Heavy artifacts live outside the checkout, so fresh clones (CI) reuse them. */
export function cacheDir() {
  if (process.env.JML_CACHE_DIR) return process.env.JML_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'jml');
}

function builtCliPath() {
  return path.join(cacheDir(), 'temporal-cli', TEMPORAL_CLI_VERSION, 'temporal');
}

/** @param {string} name */
function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * @typedef {{ kind: 'cluster', address: string }
 *   | { kind: 'executable', path: string, source: string }
 *   | { kind: 'sdk-download' }
 *   | { kind: 'go-build' }} TemporalSource
 */

/**
 * Where the Temporal server comes from, in the documented order, without side effects.
 * @returns {TemporalSource}
 */
export function locateTemporal() {
  if (process.env.TEMPORAL_ADDRESS) return { kind: 'cluster', address: process.env.TEMPORAL_ADDRESS };
  return locateTemporalCli();
}

/**
 * Where the CLI for a local dev server comes from, whatever TEMPORAL_ADDRESS says (tests that
 * stop and restart a server of their own need one).
 * @returns {Exclude<TemporalSource, { kind: 'cluster' }>}
 */
export function locateTemporalCli() {
  if (process.env.TEMPORAL_CLI_PATH) {
    if (!existsSync(process.env.TEMPORAL_CLI_PATH)) {
      throw new Error(`TEMPORAL_CLI_PATH=${process.env.TEMPORAL_CLI_PATH} does not exist: point it at a Temporal CLI binary or unset it.`);
    }
    return { kind: 'executable', path: process.env.TEMPORAL_CLI_PATH, source: 'TEMPORAL_CLI_PATH' };
  }
  const fromPath = onPath('temporal');
  if (fromPath) return { kind: 'executable', path: fromPath, source: 'PATH' };
  const built = builtCliPath();
  if (existsSync(built)) return { kind: 'executable', path: built, source: 'built from the Go module proxy' };
  if (goBinary()) return { kind: 'go-build' };
  return { kind: 'sdk-download' };
}

function goBinary() {
  return onPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One build at a time per cache: a second bootstrap (another checkout, another helper) waits for
 * the first one's binary instead of compiling the same 1,500 packages again on the same cores.
 * @param {string} lockDir @param {string} target @param {(line: string) => void} log
 * @returns {boolean} true when we hold the lock, false when another process built the binary
 */
function acquireBuildLock(lockDir, target, log) {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      return true;
    } catch {
      const holder = Number(existsSync(path.join(lockDir, 'pid')) ? readFileSync(path.join(lockDir, 'pid'), 'utf8') : 0);
      if (existsSync(target)) return false;
      if (holder && !alive(holder)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`Another process (pid ${holder || '?'}) is building the Temporal CLI: waiting for it.`);
      announced = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    }
  }
}

/**
 * Builds the Temporal CLI with Go into the cache, in two phases with one line each: module
 * downloads (`go install -n` loads every package, so it fetches every module, and compiles
 * nothing), then the build. Go's own output goes to a log file whose path is printed on failure.
 * `-trimpath -ldflags=-s -w`: no symbol table or DWARF (a smaller binary, a shorter link) and
 * reproducible paths; CGO_ENABLED=0: the CLI needs no C (its SQLite is modernc's pure Go), so no
 * C compiler runs. The build goes to a temporary directory and is renamed into place, so two
 * processes never see a half-written binary.
 * @param {(line: string) => void} log
 * @returns {string} the binary's path
 */
export function buildTemporalCli(log) {
  const go = goBinary();
  if (!go) throw new Error('Go is not installed: cannot build the Temporal CLI.');
  const target = builtCliPath();
  mkdirSync(path.dirname(target), { recursive: true });
  const lockDir = path.join(path.dirname(target), '.building');
  if (!acquireBuildLock(lockDir, target, log)) return target;
  try {
    if (existsSync(target)) return target;
    const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
    const logFile = path.join(path.dirname(target), 'build.log');
    const logFd = openSync(logFile, 'w');
    const env = { ...process.env, GOBIN: staging, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod', CGO_ENABLED: process.env.CGO_ENABLED ?? '0' };
    const module = `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`;
    const flags = ['-trimpath', '-ldflags=-s -w'];
    /** @param {string} phase @param {string[]} args */
    const phase = (phase, args) => {
      const started = Date.now();
      log(`Temporal CLI ${TEMPORAL_CLI_VERSION}: ${phase}...`);
      const result = spawnSync(go, args, { env, stdio: ['ignore', logFd, logFd] });
      if (result.status !== 0) {
        closeSync(logFd);
        rmSync(staging, { recursive: true, force: true });
        const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n  ');
        throw new Error(`go ${args.join(' ')} failed (exit ${result.status ?? result.signal}); full log in ${logFile}:\n  ${tail}`);
      }
      return Math.round((Date.now() - started) / 1000);
    };
    const downloading = phase('downloading Go modules (GOPROXY, once)', ['install', '-n', ...flags, module]);
    const compiling = phase('compiling with Go (a few minutes on 2 cores, once)', ['install', ...flags, module]);
    closeSync(logFd);
    renameSync(path.join(staging, 'temporal'), target);
    rmSync(staging, { recursive: true, force: true });
    log(`Built the Temporal CLI into ${target}: modules ${downloading} s, compile ${compiling} s.`);
    return target;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
