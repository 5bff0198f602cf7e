// Audit rows get their seq, prev_hash and hash from the integrator, after they commit
// (docs/decisions/016-audit-integration.md). Tests that read the chain right after a write link
// the committed rows first, as the running server's integrator would within a few hundred ms.
import { AuditIntegrator } from '../../src/audit/integrator.js';
import type { Database } from '../../src/db/client.js';

/** Integrates every committed audit row, then hands back `db`. */
export async function integrated(db: Database): Promise<Database> {
  await new AuditIntegrator({ db }).integrateAll();
  return db;
}
