import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint, signCheckpoint } from '../../src/audit/checkpoint.js';
import { parseSignerKey, parseVerifierKey } from '../../src/audit/signed-note.js';
import { keygenCommand } from '../../src/cli/keygen.js';

const folder = mkdtempSync(path.join(tmpdir(), 'jml-keygen-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function run(args: { out?: string; name?: string }) {
  const io = { stdout: '', stderr: '' };
  const code = keygenCommand(args, { out: (text) => (io.stdout += text), err: (text) => (io.stderr += text) });
  return { code, ...io };
}

describe('jml audit keygen', () => {
  it('writes a 0600 signing key and prints the verifier key that checks its checkpoints', () => {
    const out = path.join(folder, 'checkpoint.key');
    const { code, stdout, stderr } = run({ out, name: 'jml-audit/example.org' });
    expect(code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const signer = parseSignerKey(readFileSync(out, 'utf8'));
    const verifier = parseVerifierKey(stdout.trim());
    expect(verifier.name).toBe('jml-audit/example.org');
    expect(stdout).not.toContain('PRIVATE');
    expect(stderr).not.toContain('PRIVATE');
    const note = signCheckpoint({ size: 7n, hash: 'ab'.repeat(32), time: new Date('2026-12-01T00:00:00Z') }, signer);
    expect(openCheckpoint(note, verifier).size).toBe(7n);
  });

  it('never replaces an existing key', () => {
    const out = path.join(folder, 'kept.key');
    expect(run({ out }).code).toBe(0);
    const before = readFileSync(out, 'utf8');
    const second = run({ out });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/never replaces/);
    expect(readFileSync(out, 'utf8')).toBe(before);
  });

  it('refuses a missing --out and a name signed notes do not allow', () => {
    expect(run({}).code).toBe(2);
    const bad = run({ out: path.join(folder, 'bad.key'), name: 'has space' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--name/);
  });
});
