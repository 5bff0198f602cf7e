// Applies prisma/migrations with `prisma migrate deploy` (the WASM schema engine; no download).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** How many times a migration waits for another process's migration before giving up. */
const LOCK_ATTEMPTS = 6;

/**
 * Applies the migrations. The API and the worker start together (docker-compose, the fault
 * tests) and both migrate: Prisma serialises them with an advisory lock and gives the second one
 * 10 s, less than a migration run can take on a busy machine. A lock timeout is therefore retried;
 * once the first process is done, the second finds nothing left to apply.
 */
export async function migrateDatabase(databaseUrl: string): Promise<void> {
  const prisma = path.join(root, 'node_modules', '.bin', 'prisma');
  for (let attempt = 1; ; attempt++) {
    try {
      await promisify(execFile)(prisma, ['migrate', 'deploy'], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      });
      return;
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      // Prisma prints the failing statement; pass it on, minus the connection string.
      const detail = `${stdout}\n${stderr}`.replaceAll(databaseUrl, '<DATABASE_URL>').trim();
      if (detail.includes('pg_advisory_lock') && attempt < LOCK_ATTEMPTS) continue;
      throw new MigrationError(`prisma migrate deploy failed:\n${detail}`);
    }
  }
}
