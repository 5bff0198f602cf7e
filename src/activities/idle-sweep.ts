// The idle-user sweep: Rocket.Chat's users.deactivateIdle, run by a Temporal Schedule
// (src/temporal/schedules.ts), its result written to the audit trail.
import { ApplicationFailure } from '@temporalio/activity';
import { appendAudit } from '../audit/append.js';
import type { Connector } from '../connectors/types.js';
import type { ActivityDependencies } from './index.js';

type Deps = ActivityDependencies & { now: () => Date };

export interface IdleSweepRequest {
  daysIdle: number;
  role: string;
}

interface IdleSweeper extends Connector {
  deactivateIdle(request: IdleSweepRequest): Promise<{ count: number }>;
}

function canSweep(connector: Connector | undefined): connector is IdleSweeper {
  return typeof (connector as Partial<IdleSweeper> | undefined)?.deactivateIdle === 'function';
}

export function createIdleSweepActivities({ db, connectors, dryRun, now }: Deps) {
  return {
    async sweepIdleRocketChatUsers(request: IdleSweepRequest): Promise<{ count: number; dryRun: boolean }> {
      const connector = connectors.rocketchat;
      if (!canSweep(connector)) {
        throw ApplicationFailure.create({ type: 'SystemNotConfigured', message: 'Rocket.Chat is not configured on this worker: set ROCKETCHAT_URL and its credentials.', nonRetryable: true });
      }
      const dry = dryRun('rocketchat');
      const started = Date.now();
      const { count } = dry ? { count: 0 } : await connector.deactivateIdle(request);
      await db.$transaction((tx) =>
        appendAudit(tx, [
          {
            actor: 'system',
            action: dry ? 'rocketchat.idle_sweep.dry_run' : 'rocketchat.idle_sweep.completed',
            system: 'rocketchat',
            data: { daysIdle: request.daysIdle, role: request.role, deactivated: count, durationMs: Date.now() - started },
          },
        ], now()),
      );
      return { count, dryRun: dry };
    },
  };
}
