// Starts the real infrastructure once per test run: a PostgreSQL server (DATABASE_URL, else the
// local server on 127.0.0.1:5432 when it answers, else an embedded one) with a migrated template
// database, and a real Temporal dev server. Test files clone the template into a database of
// their own, so they never see each other's rows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '../src/db/migrate.js';
import { startEmbeddedPostgres, type RunningPostgres } from '../src/infra/embedded-postgres.js';
import { freePort, obtainTemporalServer, type TemporalServer } from '../src/infra/temporal-server.js';
import { bundleWorkflows } from '../src/temporal/workers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    templateDatabase: string;
    temporalAddress: string;
    /** The workflow bundle, built once per run instead of once per test file. */
    workflowBundle: { code: string; sourceMap: string };
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export default async function setup(project: TestProject) {
  const scratch = mkdtempSync(path.join(tmpdir(), 'jml-test-'));
  let embedded: RunningPostgres | undefined;
  let adminUrl = process.env.DATABASE_URL;
  const local = 'postgresql://postgres@127.0.0.1:5432/postgres';
  if (!adminUrl && (await answers(local))) adminUrl = local;
  if (!adminUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg'), port: await freePort() });
    adminUrl = embedded.url;
  }

  const template = `jml_template_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${template}"`);
  await migrateDatabase(withDatabase(adminUrl, template));

  const [temporal, bundle]: [TemporalServer, { code: string; sourceMap: string }] = await Promise.all([
    obtainTemporalServer({ port: await freePort(), namespace: 'default' }),
    bundleWorkflows(),
  ]);

  project.provide('postgresAdminUrl', adminUrl);
  project.provide('templateDatabase', template);
  project.provide('temporalAddress', temporal.address);
  project.provide('workflowBundle', { code: bundle.code, sourceMap: bundle.sourceMap });

  return async () => {
    await temporal.stop();
    // Drop every database this run made (the template and the per-file clones).
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [template, `jml_test_${process.pid}_%`],
    );
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
    rmSync(scratch, { recursive: true, force: true });
  };
}
