// Carries out what a SCIM change means for the lifecycle, inside the SCIM request's transaction: a
// new event with one target action per downstream system and the outbox row that starts its
// workflow, or a signal to a leaver that is still waiting (a new date, or a rehire that cancels it),
// and the same for an HR source's mover or rehire dated ahead (decision 026). plan.ts decides which, transitions.ts writes it. Either all of it commits with the identity
// change, or none of it does (docs/decisions/003-outbox.md).
import type { AuditEntry, Transaction } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import type { LifecycleEvent } from '../generated/prisma/client.js';
import type { LifecycleTarget } from '../../workflows/contract.js';
import { detectLifecycleChange, detectScheduledChange, terminationWithdrawn, type DetectedChange, type LifecycleState } from './detect.js';
import { groupIdsOf, targetsForChange, targetsWithoutReads } from './entitlements.js';
import { EVERYONE_EVERYWHERE, type EntitlementPolicy } from './policy.js';
import { appliesOnItsDate, OPEN_LEAVER, planLifecycleChange, type LifecyclePlan, type OpenScheduled } from './plan.js';
import { cancelOpenEvent, recordEvent, rescheduleEvent, type NewEvent } from './transitions.js';

export interface LifecycleSettings {
  /** The downstream systems that are configured. */
  systems: readonly SystemName[];
  queuePrefix: string;
  retryDeadlineMs: number;
  retryInitialIntervalMs?: number;
  retryMaximumIntervalMs?: number;
  /** Whether leavers consult the mass-deprovision guard. */
  guard?: boolean;
  /** Systems disabled at once for a future-dated leaver; the rest on the date. */
  disableNowSystems?: readonly SystemName[];
  /** Systems without a rate limit: an event's targets in them share one activity (decision 067). */
  unthrottledSystems?: readonly SystemName[];
  /** Who is entitled to which system (src/lifecycle/policy.ts); everyone everywhere without a file. */
  policy?: EntitlementPolicy;
}

/** The downstream actions `change` asks for, under the settings' entitlement policy. */
export function targetsFor(
  tx: Transaction,
  settings: LifecycleSettings,
  input: Omit<Parameters<typeof targetsForChange>[2], 'before' | 'after'> & { before: LifecycleState | null; after: LifecycleState | null },
): Promise<LifecycleTarget[]> {
  return targetsForChange(tx, { policy: settings.policy ?? EVERYONE_EVERYWHERE, systems: settings.systems }, input);
}

/** A new event, for callers that decided it themselves (group membership changes). */
export const recordLifecycleEvent = recordEvent;

/** The person's dated mover or rehire that has not taken effect yet (plan.ts's appliesOnItsDate). */
async function openScheduledOf(tx: Transaction, identityId: string): Promise<LifecycleEvent | null> {
  const open = await tx.lifecycleEvent.findMany({
    where: { identityId, kind: { in: ['mover', 'rehire'] }, status: { in: [...OPEN_LEAVER] } },
    orderBy: { createdAt: 'desc' },
    take: 5,
  });
  return open.find(appliesOnItsDate) ?? null;
}

function asOpenScheduled(event: LifecycleEvent | null): OpenScheduled | null {
  return event && { kind: event.kind, effectiveAt: event.effectiveAt, changes: event.changes as OpenScheduled['changes'] };
}

/** Each person's dated mover or rehire not yet in effect, for many people in one read (an import's plan). */
export async function openScheduledOfEach(db: Pick<Transaction, 'lifecycleEvent'>, identityIds: string[]): Promise<Map<string, OpenScheduled>> {
  const open = await db.lifecycleEvent.findMany({
    where: { identityId: { in: identityIds }, kind: { in: ['mover', 'rehire'] }, status: { in: [...OPEN_LEAVER] } },
    orderBy: { createdAt: 'asc' },
  });
  return new Map(open.filter(appliesOnItsDate).map((event) => [event.identityId, asOpenScheduled(event)!]));
}

/** A dated mover or rehire, decided: what it is, the open one it meets, and what to do. */
export interface ScheduledPlan {
  change: DetectedChange | null;
  /** The person as they will be from the date: what the event's targets are computed from. */
  after: LifecycleState;
  openScheduled: LifecycleEvent | null;
  plan: LifecyclePlan;
}

/**
 * What an HR source's dated mover or rehire means (decision 026), read and decided under the
 * identity's lock before anything is written, so the caller can name the outcome in its audit row;
 * recordLifecycleChange carries it out. The identity keeps its values until the date.
 */
export async function planScheduledChange(
  tx: Transaction,
  input: { identityId: string; before: LifecycleState; after: LifecycleState; effectiveAt: Date; now: Date },
): Promise<ScheduledPlan> {
  const change = detectScheduledChange(input.before, input.after, input.effectiveAt);
  const openScheduled = change ? await openScheduledOf(tx, input.identityId) : null;
  const plan = planLifecycleChange({ change, withdrawn: false, openLeaver: false, openScheduled: asOpenScheduled(openScheduled), now: input.now });
  return { change, after: input.after, openScheduled, plan };
}

/** A dated change's outcome as the HR source is told it. */
export function scheduledOutcome({ plan }: ScheduledPlan): 'scheduled' | 'rescheduled' | 'unchanged' {
  return plan.record ? 'scheduled' : plan.rescheduleScheduled ? 'rescheduled' : 'unchanged';
}

/**
 * Everything a change of one identity means for its lifecycle. `withAudit` are the caller's audit
 * rows for the change: written in the new event's statement when there is one (a round trip
 * less). Returns the audit rows still to append (the caller's among them when no event was
 * recorded) and whether the outbox has rows for the relay. `scheduled`: a dated change planned by
 * planScheduledChange, carried out instead of what before and after say.
 */
export async function recordLifecycleChange(
  tx: Transaction,
  input: {
    identityId: string;
    before: LifecycleState | null;
    after: LifecycleState | null;
    actor: string;
    now: Date;
    /** The person's open leaver when the caller read it already (with the identity's lock); read here when absent. */
    openLeaver?: LifecycleEvent | null;
    /** Whether the person has an open dated mover or rehire, when the caller read it already; read here when absent and needed. */
    hasOpenScheduled?: boolean;
    scheduled?: ScheduledPlan;
    /** The source says the person leaves (an HR leaver), which matters even when their state does not change: a dated rehire is off. */
    leaving?: boolean;
    withAudit?: AuditEntry[];
  },
  settings: LifecycleSettings,
): Promise<{ audit: AuditEntry[]; wroteOutbox: boolean }> {
  const { scheduled } = input;
  const change = scheduled ? scheduled.change : detectLifecycleChange(input.before, input.after, input.now);
  const withdrawn = !scheduled && terminationWithdrawn(input.before, input.after);
  const audit: AuditEntry[] = [...(input.withAudit ?? [])];
  if (!change && !withdrawn && !input.leaving) return { audit, wroteOutbox: false };

  const openLeaver = scheduled
    ? null
    : input.openLeaver !== undefined
      ? input.openLeaver
      : await tx.lifecycleEvent.findFirst({
          where: { identityId: input.identityId, kind: 'leaver', status: { in: [...OPEN_LEAVER] } },
          orderBy: { createdAt: 'desc' },
        });
  // Only a leaver or a rehire can make a dated mover or rehire moot (plan.ts).
  const openScheduled = scheduled
    ? scheduled.openScheduled
    : (change?.kind === 'leaver' || change?.kind === 'rehire' || (!change && input.leaving)) && input.hasOpenScheduled !== false
      ? await openScheduledOf(tx, input.identityId)
      : null;
  const plan = scheduled?.plan ?? planLifecycleChange({ change, withdrawn, openLeaver: openLeaver !== null, openScheduled: asOpenScheduled(openScheduled), leaving: input.leaving, now: input.now });

  if (openLeaver && plan.cancelOpenLeaver) {
    audit.push(...(await cancelOpenEvent(tx, openLeaver, { by: input.actor, reason: plan.cancelOpenLeaver, now: input.now })));
  }
  if (openScheduled && plan.cancelScheduled) {
    audit.push(...(await cancelOpenEvent(tx, openScheduled, { by: input.actor, reason: plan.cancelScheduled, now: input.now })));
  }
  if (openScheduled && plan.rescheduleScheduled) {
    audit.push(...(await rescheduleEvent(tx, openScheduled, { by: input.actor, effectiveAt: plan.rescheduleScheduled, changes: change?.changes })));
    return { audit, wroteOutbox: true };
  }
  if (openLeaver && plan.rescheduleOpenLeaver) {
    audit.push(...(await rescheduleEvent(tx, openLeaver, { by: input.actor, effectiveAt: plan.rescheduleOpenLeaver, changes: change?.changes })));
    return { audit, wroteOutbox: true };
  }
  const wroteOutbox = (plan.cancelOpenLeaver !== undefined && openLeaver !== null) || (plan.cancelScheduled !== undefined && openScheduled !== null);
  if (!plan.record) return { audit, wroteOutbox };

  const recorded = plan.record;
  const groupIds = recorded.kind === 'mover' || recorded.kind === 'rehire' ? await groupIdsOf(tx, input.identityId) : [];
  const targets = await targetsFor(tx, settings, { change: recorded, before: input.before, after: scheduled?.after ?? input.after, groupIds: { before: groupIds, after: groupIds } });
  const event = await recordEvent(tx, { identityId: input.identityId, change: recorded, targets, actor: input.actor, now: input.now, withAudit: audit }, settings);
  return { audit: event.audit, wroteOutbox: wroteOutbox || targets.length > 0 };
}

/**
 * What a change means when it can be written in one statement with the identity's own write
 * (transitions.ts's recordChangeAtOnce, decision 019): nothing, or a new event whose targets need
 * nothing read (a joiner, a leaver). Undefined when the change needs the transaction path: an open
 * leaver to cancel or move, a dated mover or rehire to look at, or groups to read (a mover, a rehire).
 */
export function lifecycleChangeAtOnce(
  input: { identityId: string; before: LifecycleState | null; after: LifecycleState | null; actor: string; now: Date; openLeaver: boolean; openScheduled: boolean },
  settings: LifecycleSettings,
): { event?: NewEvent } | undefined {
  const change = detectLifecycleChange(input.before, input.after, input.now);
  const withdrawn = terminationWithdrawn(input.before, input.after);
  if (!change && !withdrawn) return {};
  // A leaver or a rehire meeting a dated mover or rehire: the transaction path reads it and plans.
  if (input.openScheduled && (change?.kind === 'leaver' || change?.kind === 'rehire')) return undefined;
  const plan = planLifecycleChange({ change, withdrawn, openLeaver: input.openLeaver, now: input.now });
  if (plan.cancelOpenLeaver || plan.rescheduleOpenLeaver) return undefined;
  if (!plan.record) return {};
  const targets = targetsWithoutReads(plan.record, settings.systems);
  if (!targets) return undefined;
  return { event: { identityId: input.identityId, change: plan.record, targets, actor: input.actor, now: input.now } };
}
