// An operator command's output reaches a pipe whole: process.exit() drops what is still queued on
// a pipe (writes to pipes are asynchronous), and `jml events approve --all-held` read by a program
// lost every line past about 16 KB, its final "Released as one mass release" line with them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `exit` (an expression) after printing `lines` lines, reading the pipe only after `readAfterMs`. */
function printThenExit(lines: number, exit: string, readAfterMs: number): Promise<{ code: number | null; stdout: string }> {
  const program = `
    import { exitWhenWritten } from './src/cli/exit.ts';
    for (let n = 0; n < ${lines}; n++) process.stdout.write('Approved 0b6f2a1e-1111-4c3d-9e2f-' + String(n).padStart(12, '0') + ' as alice.\\n');
    process.stdout.write('LAST LINE\\n');
    ${exit};`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', program], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.pause();
    setTimeout(() => child.stdout.resume(), readAfterMs);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout }));
  });
}

describe('how an operator command exits', () => {
  it('delivers every line to a pipe that is read late, then exits with the code', async () => {
    const { code, stdout } = await printThenExit(3_000, 'await exitWhenWritten(3)', 300);
    expect(code).toBe(3);
    const lines = stdout.split('\n');
    expect(lines).toHaveLength(3_002);
    expect(lines.at(-2)).toBe('LAST LINE');
  });

  it('is needed: process.exit() at once loses the tail of the same output', async () => {
    const { code, stdout } = await printThenExit(3_000, 'process.exit(3)', 300);
    expect(code).toBe(3);
    expect(stdout).not.toContain('LAST LINE');
  });
});
