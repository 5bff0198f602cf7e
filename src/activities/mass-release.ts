// The mass-release workflow's bookkeeping (docs/decisions/048-mass-release-lane.md): begin a page of
// the approval's events, mark what ran out of retries, finish each event. The accounts themselves
// are acted on by applyTargetActions on each system's queue (target-action.ts). Every status
// change is src/lifecycle/transitions.ts's.
import type { SystemName } from '../connectors/types.js';
import { sqlOf } from '../db/sql.js';
import { beginMassPage, finishEvents, markTargetNeedsAttention, type MassPageEvent } from '../lifecycle/transitions.js';
import type { MassPageItem } from '../../workflows/contract.js';
import type { ActivityDependencies } from './index.js';
import { heartbeating } from './target-action.js';

type Deps = ActivityDependencies & { now: () => Date };

export function createMassReleaseActivities({ db, now, connectors }: Deps) {
  return {
    beginMassPage: heartbeating(async (input: { releaseId: string; afterEventId?: string; limit: number; page?: number }): Promise<{ lastEventId: string | null; events: MassPageEvent[] }> => {
      const { lastEventId, events } = await beginMassPage(db, input, now());
      return { lastEventId, events };
    }),

    /**
     * A page's accounts in one system ran out of retries (the retry deadline): those not settled
     * need attention, with the last failure, as the per-leaver workflow marks its target.
     */
    markMassTargetsNeedAttention: heartbeating(async ({ system, items, reason }: { system: SystemName; items: MassPageItem[]; reason: string }): Promise<number> => {
      const open = await sqlOf(db).query<{ eventId: string; action: MassPageItem['action'] }>(
        `SELECT event_id::text AS "eventId", action::text AS action FROM target_action
         WHERE event_id = ANY($1::uuid[]) AND system = $2 AND status IN ('pending', 'succeeded')`,
        [items.map((item) => item.eventId), system],
      );
      for (const target of open) await markTargetNeedsAttention(db, { ...target, system, reason }, now());
      return open.length;
    }),

    /** Each event's end, as the per-leaver workflow's completeEvent writes it: one read and one write for the page. */
    finishMassPage: heartbeating(async ({ eventIds }: { eventIds: string[] }): Promise<void> => {
      await finishEvents(db, eventIds, now(), (system) => connectors[system as SystemName]?.lookup ?? `${system}'s lookup setting`);
    }),
  };
}
