// The HR webhook's replay store (docs/decisions/026-hr-webhook.md): each accepted delivery's
// signature in PostgreSQL (migration 20261204610000), so a captured delivery replayed to another
// API replica, or after a restart, is refused as it is by the process that saw it first. The
// primary key decides the race between two replicas receiving the same delivery at once: exactly
// one insert wins. Signatures older than twice the signature window can no longer be replayed (the
// timestamp check refuses them first) and are pruned, at most once a minute per process.
import { poolOf, type Database } from '../db/client.js';

export interface ReplayStore {
  /** True the first time a signature is seen, false for every later delivery of it. */
  firstSighting(signature: string): Promise<boolean>;
}

const PRUNE_EVERY_MS = 60_000;

export function postgresReplayStore(db: Database, options: { keepSeconds: number; now?: () => number }): ReplayStore {
  const now = options.now ?? Date.now;
  let prunedAt = 0;
  return {
    async firstSighting(signature) {
      const pool = await poolOf(db);
      if (now() - prunedAt >= PRUNE_EVERY_MS) {
        prunedAt = now();
        await pool.query('DELETE FROM hr_webhook_delivery WHERE received_at < now() - make_interval(secs => $1)', [options.keepSeconds]);
      }
      const { rowCount } = await pool.query('INSERT INTO hr_webhook_delivery (signature) VALUES ($1) ON CONFLICT (signature) DO NOTHING', [signature]);
      return rowCount === 1;
    },
  };
}
