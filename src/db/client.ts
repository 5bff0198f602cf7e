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

export function createDatabase(url: string, options: DatabaseOptions = {}): Database {
  const adapter = new PrismaPg(
    { connectionString: url, max: options.poolSize ?? 10 },
    // An idle connection the server closed (a restart, a failover): the pool replaces it. Only the
    // code and message are logged: pg's error carries its client, connection parameters included.
    { onPoolError: (error) => logger.warn({ code: (error as { code?: string }).code, reason: error.message }, 'a database connection was closed by the server') },
  );
  const maxWait = options.connectionWaitMs ?? 10_000;
  // Each transaction is a few statements; `timeout` only has to cover waiting for the audit
  // chain's head row behind the transactions queued before it.
  return new PrismaClient({ adapter, transactionOptions: { maxWait, timeout: maxWait + 30_000 } });
}
