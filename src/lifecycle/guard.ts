// The mass-deprovision guard's count: what takes access away in the window (leavers, and movers
// who lose an entitlement: docs/decisions/041-every-mass-action-through-the-guard.md), against the
// thresholds. Asked by the outbox relay before it starts a guarded event's workflow, so that a held
// event has no workflow until an operator releases it (docs/decisions/023-held-without-workflow.md),
// and by the workflows that started before that change (the `checkDeprovisionGuard` activity).
import type { Database, Prisma } from '../db/client.js';

export interface GuardSettings {
  enabled: boolean;
  /** The window leavers are counted in. */
  windowMs: number;
  /** More deprovisions (leavers and movers losing an entitlement) than this in the window trips the guard. */
  maxLeavers: number;
  /** So does a share of active identities above this, once at least `minLeaversForShare` lost access. */
  maxShare: number;
  minLeaversForShare: number;
}

export type GuardVerdict = { tripped: false } | { tripped: true; verdict: Record<string, unknown> };

/**
 * Counts every deprovision recorded in the window, the events being asked about included. Every
 * event that finds the count over the threshold holds, so a burst holds as a whole whatever the
 * order its events are looked at in.
 */
export async function evaluateGuard(db: Database | Prisma.TransactionClient, guard: GuardSettings, at: Date): Promise<GuardVerdict> {
  if (!guard.enabled) return { tripped: false };
  const since = new Date(at.getTime() - guard.windowMs);
  const [counted] = await db.$queryRaw<{ leavers: number; movers: number; active: number }[]>`
    SELECT count(*) FILTER (WHERE e.kind = 'leaver')::int AS leavers, count(*) FILTER (WHERE e.kind = 'mover')::int AS movers,
           (SELECT count(*)::int FROM identity WHERE active AND deleted_at IS NULL) AS active
    FROM lifecycle_event e
    WHERE e.created_at >= ${since} AND e.status <> 'cancelled'
      AND (e.kind = 'leaver' OR (e.kind = 'mover' AND EXISTS (
        SELECT 1 FROM target_action t WHERE t.event_id = e.id AND t.action = 'deactivate')))`;
  const { leavers, movers, active } = counted ?? { leavers: 0, movers: 0, active: 0 };
  const deprovisions = leavers + movers;
  // Movers are still active identities; leavers no longer are, so they are added back.
  const share = deprovisions / Math.max(1, active + leavers);
  const tripped = deprovisions > guard.maxLeavers || (deprovisions >= guard.minLeaversForShare && share > guard.maxShare);
  if (!tripped) return { tripped: false };
  return {
    tripped: true,
    verdict: {
      leaversInWindow: leavers,
      moversLosingAccessInWindow: movers,
      deprovisionsInWindow: deprovisions,
      windowMs: guard.windowMs,
      shareOfActive: Math.round(share * 1000) / 1000,
      maxLeavers: guard.maxLeavers,
      maxShare: guard.maxShare,
    },
  };
}
