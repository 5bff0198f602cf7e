// `jml idle-sweep approve|reject <workflow id> [--as <operator>]`: the verdict on a Rocket.Chat idle
// sweep the guard held (src/lifecycle/idle-sweep-approval.ts). The running jml's outbox relay
// delivers the signal.
import { ZodError } from 'zod';
import type { Database } from '../db/client.js';
import { decideIdleSweep, IdleSweepNotHeld } from '../lifecycle/idle-sweep-approval.js';
import type { Output } from './events.js';
import { defaultOperator } from './operator.js';

export const IDLE_SWEEP_USAGE = `Usage: jml idle-sweep approve|reject <workflow id> [--as <operator>]
  An idle sweep that would deactivate more Rocket.Chat users than JML_GUARD_MAX_LEAVERS waits for
  an operator; its audit row (rocketchat.idle_sweep.held) lists who would be deactivated and names
  the workflow id. With JML_APPROVALS_REQUIRED=2 two different operators approve.
`;

export async function idleSweepCommand(
  db: Database,
  args: { action: string; workflowId?: string; as?: string; approvalsRequired: number },
  io: Output,
): Promise<number> {
  if ((args.action !== 'approve' && args.action !== 'reject') || !args.workflowId) {
    io.err(IDLE_SWEEP_USAGE);
    return 2;
  }
  const by = args.as ?? defaultOperator();
  try {
    const verdict = await decideIdleSweep(db, { workflowId: args.workflowId, by, approve: args.action === 'approve', approvalsRequired: args.approvalsRequired });
    const text = {
      released: `Approved idle sweep ${verdict.workflowId} (approved by ${verdict.approvedBy.join(' and ')}). The running jml delivers it within its outbox poll interval.\n`,
      rejected: `Rejected idle sweep ${verdict.workflowId}: nobody is deactivated.\n`,
      waiting: `Recorded ${by}'s approval of idle sweep ${verdict.workflowId}: it waits for a different operator's approval (JML_APPROVALS_REQUIRED=2).\n`,
    }[verdict.outcome];
    io.out(text);
    return 0;
  } catch (error) {
    if (error instanceof IdleSweepNotHeld || error instanceof ZodError) {
      io.err(`${error instanceof ZodError ? error.issues.map((issue) => issue.message).join('\n') : error.message}\n`);
      return 1;
    }
    throw error;
  }
}
