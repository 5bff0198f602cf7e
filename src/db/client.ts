// The one Prisma client factory: Prisma's generated client over the pg driver adapter (no
// native query engine, see docs/decisions/002-offline-prisma-migrations.md).
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { logger } from '../logger.js';

export type Database = PrismaClient;
export type { Prisma } from '../generated/prisma/client.js';

export interface DatabaseOptions {
  poolSize?: number;
  /** How long an interactive transaction waits for a connection (Prisma's default is 2 s). */
  connectionWaitMs?: number;
}

/** The pg pool Prisma's adapter queries through (its own copy of pg's types). */
export type PgPool = ReturnType<Awaited<ReturnType<PrismaPg['connect']>>['underlyingDriver']>;

type Transaction = Awaited<ReturnType<Awaited<ReturnType<PrismaPg['connect']>>['startTransaction']>>;

/**
 * When COMMIT or ROLLBACK itself fails (PostgreSQL went away), Prisma skips the transaction's
 * commit() and rollback(), which is where the adapter hands its client back: the pool would lose
 * that connection for good. Handing it back here lets the pool drop the dead connection.
 */
function releasedWhenEndFails(transaction: Transaction): Transaction {
  const executeRaw = transaction.executeRaw.bind(transaction);
  transaction.executeRaw = async (query) => {
    try {
      return await executeRaw(query);
    } catch (error) {
      if (query.sql !== 'COMMIT' && query.sql !== 'ROLLBACK') throw error;
      await transaction.rollback();
      // ROLLBACK only fails on a lost connection, whose transaction PostgreSQL has undone. Not
      // throwing also spares Prisma's transaction timer, which does not catch it.
      if (query.sql === 'COMMIT') throw error;
      return 0;
    }
  };
  return transaction;
}

/**
 * Prisma's pg adapter, made to survive PostgreSQL going away under load
 * (docs/decisions/012-recovery-after-outages.md): no connection is lost to a failed COMMIT, and
 * a connection that PostgreSQL closes while it is checked out with no statement running no
 * longer emits an 'error' that nobody listens to, which ended the process.
 */
class OutageProofPrismaPg extends PrismaPg {
  /** The pg pool Prisma queries through, once connected: src/db/sql.ts sends hot-path SQL on it. */
  pool: PgPool | undefined;

  override async connect() {
    const adapter = await super.connect();
    this.pool = adapter.underlyingDriver();
    // The statement or transaction using the connection sees the failure itself, and the pool
    // drops the connection when it is handed back.
    adapter.underlyingDriver().on('connect', (client) => client.on('error', () => {}));
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => releasedWhenEndFails(await startTransaction(isolationLevel));
    return adapter;
  }
}

export function createDatabase(url: string, options: DatabaseOptions = {}): Database {
  const adapter = new OutageProofPrismaPg(
    { connectionString: url, max: options.poolSize ?? 10 },
    // An idle connection the server closed (a restart, a failover): the pool replaces it. Only the
    // code and message are logged: pg's error carries its client, connection parameters included.
    { onPoolError: (error) => logger.warn({ code: (error as { code?: string }).code, reason: error.message }, 'a database connection was closed by the server') },
  );
  const maxWait = options.connectionWaitMs ?? 10_000;
  // Each transaction is a few statements; `timeout` only has to cover waiting for the audit
  // chain's head row behind the transactions queued before it.
  const db = new PrismaClient({ adapter, transactionOptions: { maxWait, timeout: maxWait + 30_000 } });
  adapters.set(db, adapter);
  return db;
}

const adapters = new WeakMap<Database, OutageProofPrismaPg>();

/** The pg pool under a client made by createDatabase, connecting it first if it has not yet. */
export async function poolOf(db: Database): Promise<PgPool> {
  const adapter = adapters.get(db);
  if (!adapter) throw new Error('poolOf: this Prisma client was not made by createDatabase');
  if (!adapter.pool) await db.$connect();
  return adapter.pool!;
}
