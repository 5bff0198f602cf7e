// Whether dist/ (scripts/build.js) is newer than everything it is built from: then `jml` runs it
// in a checkout instead of compiling the TypeScript through tsx at every command (issue 17: the
// operator commands answer in about a second). Plain JavaScript: bin/jml.js imports it before tsx.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** What dist/ is built from, relative to the checkout (src/ holds the generated Prisma client). */
export const BUILD_INPUTS = ['src', 'workflows', 'scripts', 'prisma/schema.prisma', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

/** scripts/build.js writes the workflow bundle last: its time is when the build finished. */
export const BUILD_STAMP = path.join('dist', 'workflow-bundle.js');

/** @param {string} entry a file or a folder @returns {number} its newest modification time, in ms */
function newest(entry) {
  const stats = statSync(entry, { throwIfNoEntry: false });
  if (!stats) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  let latest = stats.mtimeMs;
  for (const name of readdirSync(entry)) latest = Math.max(latest, newest(path.join(entry, name)));
  return latest;
}

/**
 * True when `root`'s dist/ holds a finished build made after the last change to any input. A
 * checkout, a pull or an edit gives the changed files a newer time, so a stale build is never run.
 * @param {string} root @param {string} entry the built file to run
 */
export function builtIsFresh(root, entry) {
  const stamp = statSync(path.join(root, BUILD_STAMP), { throwIfNoEntry: false });
  if (!stamp || !statSync(entry, { throwIfNoEntry: false })) return false;
  return BUILD_INPUTS.every((input) => newest(path.join(root, input)) < stamp.mtimeMs);
}
