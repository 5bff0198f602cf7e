// Finds (or builds) the Temporal CLI that provides the local dev server. Plain JavaScript so the
// bootstrap can run it before any dependency is installed; runtime code imports it too, so the
// search order lives in one place (docs/decisions/001-temporal-server.md).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, mkdtempSync } from 'node:fs';
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

/**
 * Builds the Temporal CLI with Go into the cache. Builds into a temporary directory and renames,
 * so two processes bootstrapping at once never see a half-written binary.
 * @param {(line: string) => void} log
 * @returns {string} the binary's path
 */
export function buildTemporalCli(log) {
  const go = goBinary();
  if (!go) throw new Error('Go is not installed: cannot build the Temporal CLI.');
  const target = builtCliPath();
  mkdirSync(path.dirname(target), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
  log(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${path.dirname(target)} (a few minutes, once)...`);
  const started = Date.now();
  const result = spawnSync(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: staging, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${result.status}).`);
  }
  renameSync(path.join(staging, 'temporal'), target);
  rmSync(staging, { recursive: true, force: true });
  log(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s.`);
  return target;
}
