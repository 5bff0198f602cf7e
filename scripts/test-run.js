#!/usr/bin/env node
// `npm test` and `npm run test:faults` after the bootstrap: vitest with a temporary folder of the
// run's own (TMPDIR), so that nothing the run creates stays in /tmp (issue 17). Without it, a run
// left Vite's module copies (/tmp/<random>/ssr: vitest removes them only when it closes normally,
// not when it is interrupted) and tsx's compile cache (/tmp/tsx-<uid>, which tsx keeps on purpose,
// filled by every test that starts `node --import tsx`). Afterwards it lists whatever the tests
// themselves left there, fails the run if anything was, and removes the folder in every case.
// Plain Node with no dependencies, like scripts/bootstrap.js.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(path.join(tmpdir(), 'jml-test-run-'));
// Like /tmp itself: the embedded PostgreSQL's server user may make its files there too.
chmodSync(scratch, 0o1777);

/**
 * What tools keep on purpose, not what a test forgot: tsx's compile cache, and vitest's own folder
 * of module copies (a random 21-character name holding one folder per Vite environment), which
 * vitest removes itself when it closes normally.
 * @param {string} name
 */
function toolCache(name) {
  if (/^tsx-\d+$/.test(name)) return true;
  if (!/^[\w-]{21}$/.test(name) || !statSync(path.join(scratch, name)).isDirectory()) return false;
  const inside = readdirSync(path.join(scratch, name));
  return inside.length > 0 && inside.every((entry) => entry === 'ssr' || entry === 'client');
}

const vitest = spawn(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: scratch },
});
// Ctrl-C reaches vitest from the terminal (same process group): wait for it to finish its
// teardown. A SIGTERM sent to this process alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => vitest.kill('SIGTERM'));

/** @type {number} */
const code = await new Promise((resolve) => vitest.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))));
/** @type {string[]} */
let left = [];
try {
  left = readdirSync(scratch).filter((name) => !toolCache(name));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (left.length > 0) {
  process.stderr.write(`[tests] left in the run's temporary folder (each test must remove what it creates): ${left.join(', ')}\n`);
}
process.exit(code !== 0 ? code : left.length > 0 ? 1 : 0);
