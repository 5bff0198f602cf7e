// Applies prisma/migrations with `prisma migrate deploy` (the WASM schema engine; no download).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export async function migrateDatabase(databaseUrl: string): Promise<void> {
  const prisma = path.join(root, 'node_modules', '.bin', 'prisma');
  try {
    await promisify(execFile)(prisma, ['migrate', 'deploy'], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    // Prisma prints the failing statement; pass it on, minus the connection string.
    const detail = `${stdout}\n${stderr}`.replaceAll(databaseUrl, '<DATABASE_URL>').trim();
    throw new MigrationError(`prisma migrate deploy failed:\n${detail}`);
  }
}
