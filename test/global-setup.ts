// Starts the real infrastructure once per test run: a PostgreSQL server (DATABASE_URL, else the
// local server on 127.0.0.1:5432 when it answers, else an embedded one) with a migrated template
// database, and a real Temporal dev server. Test files clone the template into a database of
// their own, so they never see each other's rows.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '../src/db/migrate.js';
import { obtainPostgresServer, withDatabase } from '../src/infra/postgres-server.js';
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

export default async function setup(project: TestProject) {
  const server = await obtainPostgresServer();
  const adminUrl = server.adminUrl;

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
    await server.stop();
  };
}
