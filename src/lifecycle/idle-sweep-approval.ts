// An operator's verdict on an idle sweep the guard held (docs/decisions/042-idle-sweep-records-each-person.md),
// from `jml idle-sweep`, POST /api/idle-sweeps/{workflow id}/approve|reject and the operator page
// alike: the approve or reject signal goes through the outbox, in one transaction with its audit
// row (operator.idle_sweep.approve / .reject), as a held leaver's does; under the two-person rule (JML_APPROVALS_REQUIRED=2) the first approval is
// recorded and a different operator's releases it.
import { z } from 'zod';
import { appendAudit } from '../audit/append.js';
import { toJson } from '../audit/canonical.js';
import type { Database, Prisma } from '../db/client.js';
import { operatorNameSchema } from './operator-name.js';

export class IdleSweepNotHeld extends Error {
  override readonly name = 'IdleSweepNotHeld';
}

const workflowIdSchema = z.string().trim().min(1).max(300);

export interface IdleSweepVerdict {
  workflowId: string;
  /** released: the signal is on its way; waiting: a different operator's approval is needed. */
  outcome: 'released' | 'rejected' | 'waiting';
  approvedBy: string[];
}

/** Why an operator rejects a sweep: optional, kept in the audit row. */
export const idleSweepRejectSchema = z.strictObject({ reason: z.string().trim().max(1000).optional() });

/** A sweep the guard holds and nobody has decided yet: what the operator page and GET /api/idle-sweeps list. */
export interface HeldIdleSweep {
  workflowId: string;
  heldAt: Date;
  wouldDeactivate: number;
  daysIdle: number | null;
  role: string | null;
  /** The first approval under the two-person rule: a different operator releases it. */
  approvedBy: string | null;
}

/**
 * The held sweeps without a verdict, newest first, read from their audit rows (the held row names
 * the workflow; the verdicts are rows of their own). Only the few fields shown are read: a held
 * row also lists every account the sweep would deactivate.
 */
export function heldIdleSweeps(db: Database, limit = 50): Promise<HeldIdleSweep[]> {
  return db.$queryRaw<HeldIdleSweep[]>`
    SELECT * FROM (
      SELECT DISTINCT ON (h.data->>'workflowId') h.data->>'workflowId' AS "workflowId", h.occurred_at AS "heldAt",
        COALESCE((h.data->>'wouldDeactivate')::int, 0) AS "wouldDeactivate", (h.data->>'daysIdle')::int AS "daysIdle", h.data->>'role' AS role,
        (SELECT a.actor FROM audit_event a WHERE a.action = 'operator.idle_sweep.approval.recorded' AND a.data->>'workflowId' = h.data->>'workflowId' ORDER BY a.id LIMIT 1) AS "approvedBy"
      FROM audit_event h
      WHERE h.action = 'rocketchat.idle_sweep.held'
        AND NOT EXISTS (SELECT 1 FROM audit_event d WHERE d.action IN ('operator.idle_sweep.approve', 'operator.idle_sweep.reject') AND d.data->>'workflowId' = h.data->>'workflowId')
      ORDER BY h.data->>'workflowId', h.id DESC) held
    ORDER BY "heldAt" DESC LIMIT ${limit}`;
}

export async function decideIdleSweep(
  db: Database,
  input: { workflowId: string; by: string; approve: boolean; reason?: string; approvalsRequired?: number; onOutboxWritten?: () => void },
): Promise<IdleSweepVerdict> {
  const workflowId = workflowIdSchema.parse(input.workflowId);
  const by = operatorNameSchema.parse(input.by);
  const reason = input.reason?.trim() || undefined;
  const verdict = await db.$transaction(async (tx) => {
    // One verdict at a time per sweep: two operators deciding at once take turns.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`idle-sweep:${workflowId}`}))`;
    const rows = await tx.auditEvent.findMany({
      where: { action: { in: ['rocketchat.idle_sweep.held', 'operator.idle_sweep.approve', 'operator.idle_sweep.approval.recorded', 'operator.idle_sweep.reject'] }, data: { path: ['workflowId'], equals: workflowId } },
      select: { action: true, actor: true },
      orderBy: { id: 'asc' },
    });
    if (!rows.some((row) => row.action === 'rocketchat.idle_sweep.held')) {
      throw new IdleSweepNotHeld(`No idle sweep ${workflowId} is held: the held sweep's workflow id is in its audit row (rocketchat.idle_sweep.held)`);
    }
    const decided = rows.find((row) => row.action === 'operator.idle_sweep.approve' || row.action === 'operator.idle_sweep.reject');
    if (decided) throw new IdleSweepNotHeld(`Idle sweep ${workflowId} was already ${decided.action.endsWith('approve') ? 'approved' : 'rejected'} by ${decided.actor}`);
    const first = rows.find((row) => row.action === 'operator.idle_sweep.approval.recorded')?.actor;
    const signal = (name: 'approve' | 'reject') =>
      tx.outboxEntry.create({ data: { kind: 'signal', workflowId, signal: name, args: toJson([{ by }]) as Prisma.InputJsonValue } });
    if (!input.approve) {
      await signal('reject');
      await appendAudit(tx, [{ actor: by, action: 'operator.idle_sweep.reject', system: 'rocketchat', data: { workflowId, ...(reason ? { reason } : {}) } }]);
      return { workflowId, outcome: 'rejected' as const, approvedBy: [] };
    }
    if ((input.approvalsRequired ?? 1) >= 2 && (first === undefined || first === by)) {
      if (first === by) throw new IdleSweepNotHeld(`Idle sweep ${workflowId} was approved by ${by} already; releasing it needs a different operator (JML_APPROVALS_REQUIRED=2)`);
      await appendAudit(tx, [{ actor: by, action: 'operator.idle_sweep.approval.recorded', system: 'rocketchat', data: { workflowId, approvals: 1, required: 2 } }]);
      return { workflowId, outcome: 'waiting' as const, approvedBy: [by] };
    }
    const approvedBy = first ? [first, by] : [by];
    await signal('approve');
    await appendAudit(tx, [{ actor: by, action: 'operator.idle_sweep.approve', system: 'rocketchat', data: { workflowId, approvedBy } }]);
    return { workflowId, outcome: 'released' as const, approvedBy };
  });
  if (verdict.outcome !== 'waiting') input.onOutboxWritten?.();
  return verdict;
}
