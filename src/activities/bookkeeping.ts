// Activities that only write jml's own records: event status and targets that need attention.
import { appendAudit } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import type { TargetActionKind } from '../../workflows/contract.js';
import type { ActivityDependencies } from './index.js';

type Deps = ActivityDependencies & { now: () => Date };

const FINAL_FAILURE = 'needs_attention';

export function createBookkeepingActivities({ db, now }: Deps) {
  return {
    async markEventRunning({ eventId }: { eventId: string }): Promise<void> {
      await db.$transaction(async (tx) => {
        const event = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } });
        if (event.status !== 'pending') return;
        await tx.lifecycleEvent.update({ where: { id: eventId }, data: { status: 'running' } });
        await appendAudit(tx, [
          { actor: 'system', action: 'workflow.started', identityId: event.identityId, eventId, data: { workflowId: event.workflowId } },
        ], now());
      });
    },

    async markTargetNeedsAttention(input: { eventId: string; system: SystemName; action: TargetActionKind; reason: string }): Promise<void> {
      await db.$transaction(async (tx) => {
        const key = { eventId_system_action: { eventId: input.eventId, system: input.system, action: input.action } };
        const target = await tx.targetAction.findUniqueOrThrow({ where: key, include: { event: true } });
        if (target.status === FINAL_FAILURE) return;
        await tx.targetAction.update({ where: key, data: { status: FINAL_FAILURE, lastError: input.reason } });
        await appendAudit(tx, [
          {
            actor: 'system',
            action: `target.${input.action}.needs_attention`,
            identityId: target.event.identityId,
            eventId: input.eventId,
            system: input.system,
            data: { reason: input.reason, attempts: target.attempts },
          },
        ], now());
      });
    },

    async completeEvent({ eventId }: { eventId: string }): Promise<string> {
      return db.$transaction(async (tx) => {
        const event = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId }, include: { actions: true } });
        if (event.status === 'completed' || event.status === 'needs_attention') return event.status;
        const status = event.actions.some((action) => action.status === FINAL_FAILURE || action.status === 'pending')
          ? 'needs_attention'
          : 'completed';
        await tx.lifecycleEvent.update({ where: { id: eventId }, data: { status, completedAt: now() } });
        await appendAudit(tx, [
          {
            actor: 'system',
            action: `lifecycle.${event.kind}.${status}`,
            identityId: event.identityId,
            eventId,
            data: { targets: event.actions.map(({ system, action, status }) => ({ system, action, status })) },
          },
        ], now());
        return status;
      });
    },
  };
}
