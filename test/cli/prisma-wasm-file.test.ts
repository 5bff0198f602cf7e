// The built Prisma client reads its query compiler from a binary file instead of a 2.6 MB base64
// module (scripts/prisma-wasm-file.js). This fails when a Prisma upgrade changes how the generated
// client loads the compiler, so the build's rewrite cannot silently stop applying.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { readWasmFromFile, writeQueryCompilerFile } from '../../scripts/prisma-wasm-file.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const generated = readFileSync(path.join(root, 'src', 'generated', 'prisma', 'internal', 'class.ts'), 'utf8');
let scratch: string | undefined;
afterEach(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

describe('the built Prisma client reads its query compiler from a file', () => {
  it('finds the generated client\'s base64 loader and replaces it with a read of the .wasm beside it', () => {
    const rewritten = readWasmFromFile(generated);
    expect(rewritten?.module).toBe('query_compiler_bg.postgresql');
    expect(rewritten?.source).not.toContain('wasm-base64');
    expect(rewritten?.source).toContain('new URL("./query_compiler_bg.postgresql.wasm", import.meta.url)');
  });

  it('writes the compiler\'s bytes, which WebAssembly compiles, and the rewritten client beside them', async () => {
    // Inside the checkout, so that the import of @prisma/client resolves as from dist/.
    scratch = mkdtempSync(path.join(root, 'node_modules', '.jml-prisma-wasm-'));
    mkdirSync(path.join(scratch, 'internal'));
    writeFileSync(path.join(scratch, 'internal', 'class.js'), generated);
    expect(await writeQueryCompilerFile(scratch)).toContain('query_compiler_bg.postgresql.wasm');
    const bytes = readFileSync(path.join(scratch, 'internal', 'query_compiler_bg.postgresql.wasm'));
    // This project's TypeScript libraries do not declare WebAssembly; Node provides it.
    const { WebAssembly: wasm } = globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } };
    expect(wasm.validate(bytes)).toBe(true);
    expect(readFileSync(path.join(scratch, 'internal', 'class.js'), 'utf8')).not.toContain('wasm-base64');
  });

  it('leaves a client that loads its compiler some other way as it is, and says so', () => {
    expect(readWasmFromFile('export const nothing = 1;')).toBeUndefined();
  });
});
