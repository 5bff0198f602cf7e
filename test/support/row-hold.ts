// A race made deterministic: a transaction of the test's own locks a row, the statements under
// test start and take their snapshots, and the test releases the row only once each of them is
// waiting for it (pg_stat_activity says so). What they then do depends on the order PostgreSQL
// grants the lock, not on timing.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export interface RowHold {
  /** Resolves once `count` other sessions of the database wait for a lock. */
  waiters(count: number): Promise<void>;
  /** Runs `change` (if any) in the holding transaction, commits it, and closes the connection. */
  release(change?: { text: string; values: unknown[] }): Promise<void>;
}

export async function holdRow(url: string, table: 'lifecycle_event' | 'target_action', id: string): Promise<RowHold> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT id FROM ${table} WHERE id = $1::uuid FOR UPDATE`, [id]);
  const release: RowHold['release'] = async (change) => {
    try {
      if (change) await client.query(change.text, change.values);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
  };
  return {
    async waiters(count) {
      for (let tries = 0; ; tries += 1) {
        // pg_stat_activity is read once per transaction unless the snapshot is cleared.
        await client.query('SELECT pg_stat_clear_snapshot()');
        const [row] = (await client.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
        )).rows;
        if ((row?.waiting ?? 0) >= count) return;
        if (tries > 500) {
          await release();
          throw new Error(`${row?.waiting ?? 0} of ${count} statements came to wait for the held row in 10 s`);
        }
        await sleep(20);
      }
    },
    release,
  };
}
