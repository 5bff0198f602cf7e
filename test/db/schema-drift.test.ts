// Prisma owns the schema (decisions 002, 029): prisma/schema.prisma and prisma/migrations must
// describe the same tables. A table added in plain SQL and not modelled would be drift that the
// next `prisma migrate diff` turns into a DROP TABLE. This test builds one database from the
// migrations (the test template) and one from the schema alone (`prisma migrate diff
// --from-empty --to-schema-datamodel --script`, which needs no database and no download), and
// compares their tables, columns, keys and indexes. Grants, roles, functions and triggers are the
// migrations' own (Prisma cannot express them) and are not compared.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One line per column, key and index of the public schema, sorted: what both sides must share. */
const CATALOG = `
  SELECT format('column %s.%s %s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')) AS line
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> '_prisma_migrations'
  UNION ALL
  SELECT format('constraint %s.%s %s', c.relname, con.conname, pg_get_constraintdef(con.oid))
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND con.contype IN ('p', 'f', 'u') AND c.relname <> '_prisma_migrations'
  UNION ALL
  SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
  UNION ALL
  SELECT format('enum %s %s', t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder))
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE n.nspname = 'public' GROUP BY t.typname
  ORDER BY 1`;

/**
 * Prisma's schema language cannot say a partial index (WHERE ...) or an index on an expression
 * (lower(user_name), args -> 0): the migrations write those by hand and they exist on one side only.
 * Every other index is a plain column list, which both sides must have.
 */
const expressible = (line: string) => !line.startsWith('index ') || /USING \w+ \((?:"?\w+"?(?:, )?)+\)$/.test(line);

let migrated: TestDatabase;
let fromSchema: { url: string; drop(): Promise<void> };

async function emptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `dialect_drift_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await cleanup.end();
    },
  };
}

async function catalog(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ line: string }>(CATALOG)).rows.map((row) => row.line);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  migrated = await createTestDatabase();
  fromSchema = await emptyDatabase();
  // The CLI reads prisma.config.ts, whose adapter wants DATABASE_URL; `--from-empty` never connects.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(root, 'node_modules', 'prisma', 'build', 'index.js'), 'migrate', 'diff', '--from-empty', '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
    { cwd: root, env: { ...process.env, DATABASE_URL: fromSchema.url }, maxBuffer: 16 * 1024 * 1024 },
  );
  const client = new pg.Client({ connectionString: fromSchema.url });
  await client.connect();
  try {
    await client.query(stdout);
  } finally {
    await client.end();
  }
}, 240_000);

afterAll(async () => {
  await migrated?.drop();
  await fromSchema?.drop();
});

describe('prisma/schema.prisma and prisma/migrations', () => {
  it('describe the same tables, columns, keys, indexes and enums', async () => {
    const fromMigrations = (await catalog(migrated.url)).filter(expressible);
    const fromDatamodel = (await catalog(fromSchema.url)).filter(expressible);
    expect(fromMigrations.length).toBeGreaterThan(100);
    // Named both ways so a failure says which side lacks what.
    expect({ onlyInMigrations: fromMigrations.filter((line) => !fromDatamodel.includes(line)), onlyInSchema: fromDatamodel.filter((line) => !fromMigrations.includes(line)) }).toEqual({
      onlyInMigrations: [],
      onlyInSchema: [],
    });
    // The tables issue 16 added in plain SQL are among them.
    for (const table of ['scim_bulk_request', 'scim_bulk_operation', 'hr_webhook_delivery']) {
      expect(fromDatamodel.some((line) => line.startsWith(`column ${table}.`))).toBe(true);
    }
  });
});
