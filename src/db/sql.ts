// Hot-path SQL through the `pg` driver, on the very pool Prisma uses (no second pool to size or to
// survive outages with). Prisma stays the owner of the schema, the migrations and the operator-side
// queries; the few statements a leaver sends on its hot path (SCIM intake, target outcome, outbox
// relay) go through here because a statement costs a third of Prisma's CPU this way
// (bench/db-path.ts, docs/decisions/019-hot-path-sql.md). Every statement is parameterised ($1...)
// and its row type is written at the call.
import { createHash } from 'node:crypto';
import { poolOf, type Database, type PgPool } from './client.js';

export interface Sql {
  /** One statement, parameterised, on a pooled connection (its own implicit transaction). */
  query<Row>(text: string, values?: unknown[]): Promise<Row[]>;
  /**
   * The same as a prepared statement, parsed and planned once per connection and then only bound
   * and run: planning was a third of an audited write's PostgreSQL CPU (decision 058). Only for a
   * text from a fixed set (one per call site and shape): each text stays prepared on every
   * connection of the pool for the connection's life.
   */
  prepared<Row>(text: string, values?: unknown[]): Promise<Row[]>;
  /** Several statements on one connection between BEGIN and COMMIT; ROLLBACK when `body` throws. */
  transaction<T>(body: (query: Sql['query']) => Promise<T>): Promise<T>;
}

const cache = new WeakMap<Database, Sql>();

/** A prepared statement's name, from its text: one text never meets two names, nor one name two texts. */
const names = new Map<string, string>();
function nameOf(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `jml_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    names.set(text, name);
  }
  return name;
}

export function sqlOf(db: Database): Sql {
  const known = cache.get(db);
  if (known) return known;
  let pool: Promise<PgPool> | undefined;
  const connected = () => (pool ??= poolOf(db));
  const sql: Sql = {
    async query<Row>(text: string, values?: unknown[]) {
      return (await (await connected()).query(text, values)).rows as Row[];
    },
    async prepared<Row>(text: string, values?: unknown[]) {
      return (await (await connected()).query({ name: nameOf(text), text, values })).rows as Row[];
    },
    async transaction(body) {
      const client = await (await connected()).connect();
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const result = await body(async <Row>(text: string, values?: unknown[]) => (await client.query(text, values)).rows as Row[]);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A failed ROLLBACK means the connection is gone: hand it back as broken so the pool drops it.
        await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
        throw error;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
  };
  cache.set(db, sql);
  return sql;
}
