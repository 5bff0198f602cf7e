// workflows/contract.ts is a leaf: the application (the API, the worker's activities, the CLI) imports
// it without loading the Temporal SDK, which is about 0.2 s of CPU that `jml events` paid only for
// workflowIdForEvent (issue 17: the CLI answers in about a second). The signals, which need the
// SDK, live in workflows/signals.ts.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The CommonJS files a fresh Node loaded for `modules` (ESM importing a CommonJS package goes through require's cache). */
function loadedFiles(modules: string[]): string[] {
  const script = `${modules.map((module) => `await import(${JSON.stringify(path.join(root, module))});`).join('\n')}
    const { createRequire } = await import('node:module');
    process.stdout.write(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as string[];
}

describe('workflows/contract.ts', () => {
  it('reaches the application without the Temporal SDK: jml events, the transitions and the outbox relay load none of it', () => {
    const loaded = loadedFiles(['workflows/contract.ts', 'src/cli/events.ts', 'src/lifecycle/transitions.ts']);
    // The Prisma client is CommonJS too: the list is not empty because nothing was recorded.
    expect(loaded.some((file) => file.includes(`${path.sep}@prisma${path.sep}client${path.sep}`))).toBe(true);
    expect(loaded.filter((file) => file.includes(`${path.sep}@temporalio${path.sep}`))).toEqual([]);
  });

  it('still gives the workflows their signals, from workflows/signals.ts', () => {
    expect(loadedFiles(['workflows/signals.ts']).some((file) => file.includes(`${path.sep}@temporalio${path.sep}workflow${path.sep}`))).toBe(true);
  });
});
