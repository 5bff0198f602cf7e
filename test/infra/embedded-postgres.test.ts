// The embedded PostgreSQL from a folder only its owner can enter (root's home, any `mktemp -d`),
// which is where a new user's clone usually sits. As root, PostgreSQL runs as `postgres`, who
// cannot enter that folder: jml must put what that user needs where it can reach it. As another
// user, the server runs as that user from where the files are. Either way the test runs the path
// this machine's user takes, with the binaries themselves inside the closed folder.
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgresError, ROOT_STATE_DIR, startEmbeddedPostgres, type RunningPostgres } from '../../src/infra/embedded-postgres.js';
import { freePort } from '../../src/infra/temporal-server.js';

const isRoot = process.getuid?.() === 0;
const created: string[] = [];
let running: RunningPostgres | undefined;

afterAll(async () => {
  await running?.stop();
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** The installed binaries' package (its entry point is <package>/dist/index.js). */
const packageDir = () => path.resolve(path.dirname(createRequire(import.meta.url).resolve(`@embedded-postgres/${platform()}-${arch()}`)), '..');

async function ownerOfServer(url: string): Promise<{ uid: number; rows: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const uid = statSync(`/proc/${rows[0]!.pid}`).uid;
    await client.query('CREATE TABLE IF NOT EXISTS kept (id int)');
    await client.query('INSERT INTO kept VALUES (1)');
    const count = await client.query<{ count: string }>('SELECT count(*) FROM kept');
    return { uid, rows: Number(count.rows[0]!.count) };
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL from a 0700 folder', () => {
  it(isRoot ? 'runs as the postgres user, from binaries and data it can reach' : 'runs as this user, from the folder itself', async () => {
    const closed = mkdtempSync(path.join(tmpdir(), 'jml-closed-'));
    created.push(closed);
    expect(statSync(closed).mode & 0o777).toBe(0o700);
    // The binaries inside the closed folder, as in a clone's node_modules.
    const copy = path.join(closed, 'node_modules', 'linux-pg');
    cpSync(packageDir(), copy, { recursive: true, verbatimSymlinks: true });
    const dataDir = path.join(closed, 'jml-data');
    const port = await freePort();

    running = await startEmbeddedPostgres({ dataDir, port, nativeDir: path.join(copy, 'native') });
    created.push(running.clusterDir);
    const first = await ownerOfServer(running.url);
    if (isRoot) {
      const postgresUid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
      expect(first.uid).toBe(postgresUid);
      // The postgres user cannot enter the closed folder, so the cluster sits under /var/lib/jml.
      expect(running.clusterDir.startsWith(path.join(ROOT_STATE_DIR, 'postgres'))).toBe(true);
    } else {
      expect(first.uid).toBe(process.getuid!());
      expect(running.clusterDir).toBe(path.join(dataDir, 'postgres'));
    }
    // The closed folder stays closed: nobody's permissions were widened to make this work.
    expect(statSync(closed).mode & 0o777).toBe(0o700);

    // The same data directory finds the same database again after a restart.
    await running.stop();
    running = await startEmbeddedPostgres({ dataDir, port, nativeDir: path.join(copy, 'native') });
    expect((await ownerOfServer(running.url)).rows).toBe(2);
    await running.stop();
    running = undefined;
  });

  it('explains in one line why it could not start, instead of crashing', async () => {
    // A package whose initdb cannot be executed: the spawn fails with EACCES.
    const broken = mkdtempSync(path.join(tmpdir(), 'jml-broken-pg-'));
    created.push(broken);
    chmodSync(broken, 0o755);
    mkdirSync(path.join(broken, 'native', 'bin'), { recursive: true });
    writeFileSync(path.join(broken, 'package.json'), JSON.stringify({ version: '0.0.0-broken' }));
    for (const program of ['initdb', 'postgres']) writeFileSync(path.join(broken, 'native', 'bin', program), '#!/bin/sh\n', { mode: 0o644 });
    const dataDir = path.join(broken, 'data');

    const failure = await startEmbeddedPostgres({ dataDir, port: await freePort(), nativeDir: path.join(broken, 'native') }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EmbeddedPostgresError);
    const message = (failure as Error).message;
    expect(message).toMatch(/initdb: EACCES/);
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).not.toContain('\n');
    // Nothing half-made is left that would make the next start skip initdb.
    expect(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(false);
    expect(readFileSync(path.join(dataDir, 'postgres.password'), 'utf8')).toMatch(/^[0-9a-f]{48}$/);
  });
});
