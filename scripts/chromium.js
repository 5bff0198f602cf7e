// Finds (or installs) the Chromium that the operator-page tests drive through playwright-core.
// Playwright's own browser download needs the internet; Debian's `chromium` package comes from the
// apt mirror, which these machines and CI reach. Plain JavaScript: the bootstrap runs it before
// dependencies exist, and test/ui imports it so the search and the advice live in one place.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** CHROMIUM_PATH when set, else Debian's path. */
export function chromiumPath() {
  return process.env.CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH;
}

export const CHROMIUM_INSTALL_ADVICE =
  'Install it with `sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium` ' +
  '(Debian/Ubuntu; `npm test` does this itself when run as root), or point CHROMIUM_PATH at a Chromium or Chrome binary.';

/** @returns {{ found: true, path: string } | { found: false, path: string, reason: string }} */
export function locateChromium() {
  const path = chromiumPath();
  if (existsSync(path)) return { found: true, path };
  return { found: false, path, reason: `No Chromium at ${path}${process.env.CHROMIUM_PATH ? ' (CHROMIUM_PATH)' : ''}. ${CHROMIUM_INSTALL_ADVICE}` };
}

/**
 * Installs Debian's chromium when it is missing and we can (root, apt-get); otherwise says why not
 * and leaves it to the UI test to fail with the same advice. Returns whether Chromium is there.
 * @param {(line: string) => void} log
 */
export function ensureChromium(log) {
  const located = locateChromium();
  if (located.found) return true;
  if (process.env.CHROMIUM_PATH) {
    log(located.reason);
    return false;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    log(`Chromium is missing and cannot be installed here (${!hasApt ? 'no apt-get' : 'not root'}): the operator-page tests will fail. ${CHROMIUM_INSTALL_ADVICE}`);
    return false;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'chromium']]) {
    log(`Installing Chromium for the operator-page tests: apt-get ${args.join(' ')}`);
    const started = Date.now();
    const result = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (result.status !== 0) {
      log(`apt-get ${args.join(' ')} failed (exit ${result.status ?? result.signal}): the operator-page tests will fail. ${CHROMIUM_INSTALL_ADVICE}`);
      return false;
    }
    log(`apt-get ${args[0]} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const after = locateChromium();
  if (!after.found) log(after.reason);
  return after.found;
}
