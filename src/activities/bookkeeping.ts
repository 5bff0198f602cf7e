// Activities that only write jml's own records: event status, the mass-deprovision guard's
// verdicts, approvals, cancellations and targets that need attention. Every status change is
// src/lifecycle/transitions.ts's; these are the workflow's handles on it.
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { appendAudit } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import type { TargetActionKind } from '../../workflows/contract.js';
import { beginEvent, beginIfFirst, cancelEvent, finishEvent, holdEvent, markEventWaiting, markTargetNeedsAttention, type BeginVerdict } from '../lifecycle/transitions.js';
import { evaluateGuard, type GuardSettings } from '../lifecycle/guard.js';
import { finalOutcomeOf, lookupSettingOf } from './target-action.js';
import type { ActivityDependencies } from './index.js';

export type { GuardSettings };

type Deps = ActivityDependencies & { now: () => Date };

export function createBookkeepingActivities({ db, now, guard, connectors }: Deps) {
  /** Events of the same person, created before this one, about to act or acting. */
  function countEarlierOpen(event: { id: string; identityId: string; createdAt: Date }): Promise<number> {
    return db.lifecycleEvent.count({
      where: {
        identityId: event.identityId,
        status: { in: ['pending', 'running'] },
        OR: [{ createdAt: { lt: event.createdAt } }, { createdAt: event.createdAt, id: { lt: event.id } }],
      },
    });
  }

  return {
    /**
     * Moves the event to running, unless it was cancelled meanwhile (a rehire's transaction
     * cancels an open leaver directly): then the workflow must not act, and this returns false.
     */
    async markEventRunning({ eventId }: { eventId: string }): Promise<boolean> {
      return beginEvent(db, eventId, now());
    },

    /** The lean path's start: no earlier event in the way, and running, in one statement. */
    async beginIfFirst({ eventId }: { eventId: string }): Promise<BeginVerdict> {
      return beginIfFirst(db, eventId, now());
    },

    /**
     * Waits until no earlier event of the same person is about to act or acting, so that a rehire
     * never re-enables an account before the leaver in flight has disabled it. Waiting and held
     * events do not block: they are steered by signals.
     */
    async awaitEarlierEvents({ eventId }: { eventId: string }): Promise<void> {
      const event = await db.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } });
      while ((await countEarlierOpen(event)) > 0) {
        Context.current().heartbeat();
        await sleep(250);
      }
    },

    /** Whether awaitEarlierEvents would wait at all: a quick look, run as a local activity. */
    async earlierEventsOpen({ eventId }: { eventId: string }): Promise<boolean> {
      const event = await db.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } });
      return (await countEarlierOpen(event)) > 0;
    },

    async markEventWaiting({ eventId, until }: { eventId: string; until: string }): Promise<void> {
      await markEventWaiting(db, eventId, until, now());
    },

    /**
     * The mass-deprovision guard: counts what takes access away in the window, this event
     * included: leavers, and movers who lose an entitlement (a group deleted or emptied by an
     * identity provider; docs/decisions/041-every-mass-action-through-the-guard.md). Every such
     * event that finds the count over the threshold holds, so a burst holds as a whole whatever
     * the order its workflows start in. Since decision 023 the relay asks before it starts a
     * workflow; this runs only in workflows started before that.
     */
    async checkDeprovisionGuard({ eventId }: { eventId: string }): Promise<'pass' | 'hold'> {
      const at = now();
      const counted = await evaluateGuard(db, guard, at);
      if (!counted.tripped) return 'pass';
      await holdEvent(db, eventId, counted.verdict, at);
      return 'hold';
    },

    async recordApproval({ eventId, by }: { eventId: string; by: string }): Promise<void> {
      await db.$transaction(async (tx) => {
        // Locked, and recorded once: a local activity runs again if its worker dies before the
        // workflow task that ran it completes.
        await tx.$queryRaw`SELECT id FROM lifecycle_event WHERE id = ${eventId}::uuid FOR UPDATE`;
        const event = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } });
        const action = `lifecycle.${event.kind}.approved`;
        const recorded = await tx.auditEvent.findFirst({ where: { eventId, action }, select: { seq: true } });
        if (recorded) return;
        await appendAudit(tx, [{ actor: by, action, identityId: event.identityId, eventId, data: { workflowId: event.workflowId } }], now());
      });
    },

    async cancelEvent(input: { eventId: string; by: string; reason: string }): Promise<void> {
      await cancelEvent(db, input, now());
    },

    /** Answers the target's status after it: needs_attention, or the status of a target already settled (decision 067). */
    async markTargetNeedsAttention(input: { eventId: string; system: SystemName; action: TargetActionKind; reason: string }): Promise<string> {
      return markTargetNeedsAttention(db, input, now(), finalOutcomeOf(connectors));
    },

    async completeEvent({ eventId }: { eventId: string }): Promise<string> {
      return finishEvent(db, eventId, now(), lookupSettingOf(connectors));
    },
  };
}
