// PostgreSQL's floors for audited writes (issue 13), measured on the benchmark's own database with
// the `pg` driver and nothing of jml: `clients` connections each committing transactions of one
// single-row INSERT, and the same with every transaction first locking one shared row
// `SELECT ... FOR UPDATE` (the shape of decision 004's chain-head lock, which held that row from
// the append to the commit). jml's audit-append figure is divided by the first.
import { performance } from 'node:perf_hooks';
import pg from 'pg';

export interface PostgresFloor {
  clients: number;
  transactions: number;
  /** Single-insert transactions per second, no shared lock. */
  insertPerSecond: number;
  /** The same with one shared row locked FOR UPDATE in every transaction. */
  lockedPerSecond: number;
  describe(): string;
}

async function drive(pool: pg.Pool, clients: number, transactions: number, body: (client: pg.PoolClient, n: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = await pool.connect();
      try {
        for (let n = next++; n < transactions; n = next++) {
          await client.query('BEGIN');
          await body(client, n);
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
    }),
  );
  return transactions / ((performance.now() - started) / 1000);
}

export async function measurePostgresFloor(databaseUrl: string, options: { clients: number; transactions: number }): Promise<PostgresFloor> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.clients });
  // Unique names: the floor never touches jml's tables, and two runs never share these.
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const rows = `bench_floor_rows_${suffix}`;
  const head = `bench_floor_head_${suffix}`;
  try {
    await pool.query(`CREATE TABLE ${rows} (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), data jsonb NOT NULL)`);
    await pool.query(`CREATE TABLE ${head} (id int PRIMARY KEY, n bigint NOT NULL)`);
    await pool.query(`INSERT INTO ${head} VALUES (1, 0)`);
    const insert = (client: pg.PoolClient, n: number) => client.query(`INSERT INTO ${rows} (data) VALUES ($1)`, [{ n }]);
    // Warm-up, not counted: connections and plans.
    await drive(pool, options.clients, Math.min(500, options.transactions), insert);
    const insertPerSecond = await drive(pool, options.clients, options.transactions, insert);
    const lockedPerSecond = await drive(pool, options.clients, options.transactions, async (client, n) => {
      await client.query(`SELECT n FROM ${head} WHERE id = 1 FOR UPDATE`);
      await insert(client, n);
    });
    const figures = { clients: options.clients, transactions: options.transactions, insertPerSecond, lockedPerSecond };
    return {
      ...figures,
      describe: () =>
        `PostgreSQL floor (${figures.clients} clients, ${figures.transactions} transactions each way): ${figures.insertPerSecond.toFixed(0)} single-insert tx/s; ` +
        `${figures.lockedPerSecond.toFixed(0)} tx/s when each also locks one shared row FOR UPDATE (decision 004's chain-head shape)`,
    };
  } finally {
    await pool.query(`DROP TABLE IF EXISTS ${rows}, ${head}`).catch(() => {});
    await pool.end();
  }
}
