// The built Prisma client reads its query compiler from a binary file (issue 17: the CLI answers in
// about a second). Prisma's generated client for Node imports the 1.9 MB WebAssembly query
// compiler as a 2.6 MB base64 string in a JavaScript module; parsing that module and decoding the
// string cost every process about 150 ms of CPU before its first query (measured from dist/ on
// 2 cores). `npm run build` (scripts/build.js) writes the module's bytes once beside the compiled
// client and points the client at them; the TypeScript sources, run through tsx, keep Prisma's
// own loader. Plain JavaScript: the build runs it before anything is compiled.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** What Prisma 6's generated client (engineType "client", runtime "nodejs") loads the compiler with. */
const BASE64_LOADER = /const \{ wasm \} = await import\("@prisma\/client\/runtime\/(query_compiler_bg\.[a-z]+)\.wasm-base64\.mjs"\);?\s*return await decodeBase64AsWasm\(wasm\);?/;

/**
 * @param {string} source the compiled generated client's internal/class.js
 * @returns {{ source: string, module: string } | undefined} the source reading `<module>.wasm` beside
 * itself instead, and the runtime module whose bytes that file must hold; undefined when this
 * Prisma version's client loads its compiler some other way.
 */
export function readWasmFromFile(source) {
  const match = BASE64_LOADER.exec(source);
  if (!match) return undefined;
  const module = /** @type {string} */ (match[1]);
  const file = `${module}.wasm`;
  const loader = `const { readFileSync } = await import('node:fs');
        return new WebAssembly.Module(readFileSync(new URL(${JSON.stringify(`./${file}`)}, import.meta.url)));`;
  return { source: source.replace(BASE64_LOADER, () => loader), module };
}

/**
 * Rewrites dist's generated client to read the query compiler from a file written beside it.
 * @param {string} clientDir dist/src/generated/prisma
 * @returns {Promise<string>} one line saying what was done, for the build's output
 */
export async function writeQueryCompilerFile(clientDir) {
  const classFile = path.join(clientDir, 'internal', 'class.js');
  const rewritten = readWasmFromFile(readFileSync(classFile, 'utf8'));
  if (!rewritten) return `the Prisma client loads its query compiler some other way; left as generated (scripts/prisma-wasm-file.js)`;
  /** @type {unknown} */
  const loaded = await import(`@prisma/client/runtime/${rewritten.module}.wasm-base64.mjs`);
  const bytes = Buffer.from(/** @type {{ wasm: string }} */ (loaded).wasm, 'base64');
  writeFileSync(path.join(clientDir, 'internal', `${rewritten.module}.wasm`), bytes);
  writeFileSync(classFile, rewritten.source);
  return `the Prisma query compiler is read from dist/src/generated/prisma/internal/${rewritten.module}.wasm (${bytes.length} bytes)`;
}
