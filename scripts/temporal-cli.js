// Finds (or builds) the Temporal CLI that provides the local dev server. Plain JavaScript so the
// bootstrap can run it before any dependency is installed; runtime code imports it too, so the
// search order lives in one place (docs/decisions/001-temporal-server.md).
import { existsSync } from 'node:fs';
import { buildGoTool, cachedToolPath, goBinary, onPath } from './go-tool.js';

export { cacheDir } from './go-tool.js';

/** The newest CLI tag whose go.mod has no `replace` directive, so `go install` works. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

const TEMPORAL_CLI = { label: 'Temporal CLI', module: TEMPORAL_CLI_MODULE, version: TEMPORAL_CLI_VERSION, folder: 'temporal-cli', binary: 'temporal' };

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
  const built = cachedToolPath(TEMPORAL_CLI);
  if (existsSync(built)) return { kind: 'executable', path: built, source: 'built from the Go module proxy' };
  if (goBinary()) return { kind: 'go-build' };
  return { kind: 'sdk-download' };
}

/**
 * Builds the Temporal CLI with Go into the cache (scripts/go-tool.js): about 7 minutes on 2 cores,
 * once per version.
 * @param {(line: string) => void} log
 * @returns {string} the binary's path
 */
export function buildTemporalCli(log) {
  return buildGoTool(TEMPORAL_CLI, log);
}
