#!/usr/bin/env node
// The `jml` command (npx jml ...). In production (NODE_ENV=production, after `npm run build`) it
// runs the compiled CLI in dist/ with no TypeScript loader. In a checkout, the operator commands
// (tokens, events, audit...) run dist/ too while it is newer than every source it was built from
// (about half the CPU time: no tsx, no compile, no bootstrap); otherwise, and for `start`, it
// prepares the checkout like `npm start` does, then runs the TypeScript CLI through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'dist', 'src', 'cli', 'main.js');
if (process.env.NODE_ENV === 'production') {
  if (!existsSync(built)) {
    process.stderr.write(`NODE_ENV=production runs the built jml, and ${built} does not exist: run \`npm run build\` first.\n`);
    process.exit(1);
  }
  await import(built);
} else if (process.argv[2] !== undefined && process.argv[2] !== 'start' && (await import('../scripts/built-freshness.js')).builtIsFresh(root, built)) {
  await import(built);
} else {
  // Only `start` runs a Temporal server: the operator commands (tokens, events, audit...) must not
  // wait for a Temporal CLI build, and answer in about a second.
  const needsTemporal = process.argv[2] === 'start';
  if (!process.env.JML_SKIP_BOOTSTRAP) {
    const prepared = spawnSync(process.execPath, [path.join(root, 'scripts', 'bootstrap.js'), ...(needsTemporal ? [] : ['--no-temporal'])], { stdio: 'inherit' });
    if (prepared.status !== 0) process.exit(prepared.status ?? 1);
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(path.join(root, 'src', 'cli', 'main.ts'));
}
