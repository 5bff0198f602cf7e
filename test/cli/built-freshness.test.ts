// `jml` in a checkout runs dist/ only while that build is newer than everything it was built from
// (scripts/built-freshness.js): never a stale build, and no tsx compile when the build is current.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILD_STAMP, builtIsFresh } from '../../scripts/built-freshness.js';

let root: string;
const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000);
function file(relative: string, minutesAgo: number) {
  const full = path.join(root, relative);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, '');
  utimesSync(full, at(minutesAgo), at(minutesAgo));
  return full;
}
function folderTimes(relative: string, minutesAgo: number) {
  utimesSync(path.join(root, relative), at(minutesAgo), at(minutesAgo));
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'jml-built-freshness-'));
  // A checkout whose sources last changed 10 minutes ago, built 5 minutes ago.
  for (const source of ['src/cli/main.ts', 'src/generated/prisma/client.ts', 'workflows/index.ts', 'scripts/build.js', 'prisma/schema.prisma', 'package.json', 'package-lock.json']) file(source, 10);
  for (const folder of ['src/cli', 'src/generated/prisma', 'src/generated', 'src', 'workflows', 'scripts', 'prisma']) folderTimes(folder, 10);
  file('dist/src/cli/main.js', 5);
  file(BUILD_STAMP, 5);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const built = () => path.join(root, 'dist', 'src', 'cli', 'main.js');

describe('builtIsFresh', () => {
  it('is fresh when the build finished after the last change', () => {
    expect(builtIsFresh(root, built())).toBe(true);
  });

  it('is stale once a source, the generated client, the schema or the lockfile changes after the build', () => {
    for (const changed of ['src/cli/main.ts', 'src/generated/prisma/client.ts', 'prisma/schema.prisma', 'package-lock.json']) {
      file(changed, 1);
      expect(builtIsFresh(root, built()), changed).toBe(false);
      file(changed, 10);
    }
  });

  it('is stale when a file is added or removed (the folder changes)', () => {
    folderTimes('workflows', 1);
    expect(builtIsFresh(root, built())).toBe(false);
  });

  it('is stale without a finished build (no stamp, or no entry point)', () => {
    rmSync(path.join(root, BUILD_STAMP));
    expect(builtIsFresh(root, built())).toBe(false);
    file(BUILD_STAMP, 5);
    rmSync(built());
    expect(builtIsFresh(root, built())).toBe(false);
  });
});
