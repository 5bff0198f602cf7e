#!/usr/bin/env node
// `npm run build`: compiles jml to JavaScript in dist/ and bundles the workflows once with the
// SDK's bundleWorkflowCode into dist/workflow-bundle.js, which the worker loads in production
// instead of bundling at every start (and without the TypeScript sources or webpack's loaders).
// `--out <dir>` builds elsewhere (test/deploy/production-build.test.ts builds an image-shaped folder
// and leaves the checkout's dist/ alone).
import { spawnSync } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const dist = values.out ? path.resolve(values.out) : path.join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const compiled = spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', dist], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

// Files the code reads beside itself.
copyFileSync(path.join(root, 'src', 'ui', 'ui.css'), path.join(dist, 'src', 'ui', 'ui.css'));
const { writeQueryCompilerFile } = await import('./prisma-wasm-file.js');
process.stderr.write(`[build] ${await writeQueryCompilerFile(path.join(dist, 'src', 'generated', 'prisma'))}\n`);

const { bundleWorkflowCode } = await import('@temporalio/worker');
const bundle = await bundleWorkflowCode({ workflowsPath: path.join(root, 'workflows', 'index.ts') });
writeFileSync(path.join(dist, 'workflow-bundle.js'), bundle.code);
process.stderr.write(`[build] ${path.relative(process.cwd(), dist) || '.'}/ ready: node ${path.relative(process.cwd(), path.join(dist, 'src', 'cli', 'main.js'))} start --role api|worker\n`);
