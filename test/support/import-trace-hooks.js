// Module customisation hooks (Node's module.register) that append the URL of every module a process
// resolves to a file, one a line: test/cli/import-graph.test.ts reads which modules a CLI command
// really loads, through the same tsx loader `jml` runs in a checkout. Plain JavaScript: hooks run in
// Node's loader thread, before any TypeScript loader applies to them.
import { appendFileSync } from 'node:fs';

/** @type {string | undefined} */
let traceFile;

/** @param {{ file: string }} data what module.register passed */
export function initialize(data) {
  traceFile = data.file;
}

/**
 * @param {string} specifier
 * @param {unknown} context
 * @param {(specifier: string, context: unknown) => Promise<{ url: string }>} nextResolve
 */
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  if (traceFile) appendFileSync(traceFile, `${resolved.url}\n`);
  return resolved;
}
