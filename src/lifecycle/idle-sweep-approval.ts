// An operator's verdict on an idle sweep the guard held (docs/decisions/042-idle-sweep-records-each-person.md):
// the approve or reject signal goes through the outbox, in one transaction with its audit row, as
// a held leaver's does; under the two-person rule (JML_APPROVALS_REQUIRED=2) the first approval is
// recorded and a different operator's releases it.
import { z } from 'zod';
import { appendAudit } from '../audit/append.js';
import { toJson } from '../audit/canonical.js';
import type { Database, Prisma } from '../db/client.js';
import { operatorNameSchema } from './operations.js';

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

export async function decideIdleSweep(
  db: Database,
  input: { workflowId: string; by: string; approve: boolean; approvalsRequired?: number; onOutboxWritten?: () => void },
): Promise<IdleSweepVerdict> {
  const workflowId = workflowIdSchema.parse(input.workflowId);
  const by = operatorNameSchema.parse(input.by);
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
      await appendAudit(tx, [{ actor: by, action: 'operator.idle_sweep.reject', system: 'rocketchat', data: { workflowId } }]);
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
