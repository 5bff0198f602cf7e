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

/**
 * The audit rows of one held leaver released by the mass-release lane (decision 048), sorted: the
 * per-leaver workflow's rows, and the `workflow.started` row naming the mass workflow and page.
 * Failed attempts are left out.
 */
export const RELEASED_LEAVER_AUDIT = [
  'lifecycle.leaver.approved',
  'lifecycle.leaver.completed',
  'lifecycle.leaver.detected',
  'lifecycle.leaver.held',
  'operator.approve',
  'target.deactivate.succeeded',
  'target.deactivate.succeeded',
  'target.deactivate.succeeded',
  'target.deactivate.verified',
  'target.deactivate.verified',
  // The lane's only addition: names the mass-release workflow and page that acted on the event.
  'workflow.started',
];
