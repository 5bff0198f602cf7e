// One owner for every state change (issue 13): only src/lifecycle/transitions.ts writes the status
// of a lifecycle event or a target action. A write anywhere else is a second owner, which is how
// "cancel" came to be written three times. This reads the source, so it also catches writes in
// code no test runs.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OWNER = path.join('src', 'lifecycle', 'transitions.ts');

/** Prisma writes to the two models, and SQL writes to their tables. */
const WRITES = [
  /\b(lifecycleEvent|targetAction)\.(create|createMany|update|updateMany|upsert|delete|deleteMany)\b/,
  /\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+"?(lifecycle_event|target_action)\b/i,
];

function sources(directory: string): string[] {
  return readdirSync(path.join(root, directory), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sources(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

describe('status writes', () => {
  const files = [...sources('src'), ...sources('workflows')];

  it('finds the owner among the sources it reads', () => {
    expect(files).toContain(OWNER);
  });

  it('happen in src/lifecycle/transitions.ts only', () => {
    const offenders = files
      .filter((file) => file !== OWNER)
      .flatMap((file) =>
        readFileSync(path.join(root, file), 'utf8')
          .split('\n')
          .flatMap((line, index) => (WRITES.some((pattern) => pattern.test(line)) ? [`${file}:${index + 1}: ${line.trim()}`] : [])),
      );
    expect(offenders).toEqual([]);
  });

  it('would notice a write outside the owner', () => {
    expect(WRITES.some((pattern) => pattern.test("await tx.lifecycleEvent.update({ where: { id } })"))).toBe(true);
    expect(WRITES.some((pattern) => pattern.test('UPDATE target_action SET status = $1'))).toBe(true);
  });
});
