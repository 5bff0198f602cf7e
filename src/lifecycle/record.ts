// Carries out what a SCIM change means for the lifecycle, inside the SCIM request's transaction: a
// new event with one target action per downstream system and the outbox row that starts its
// workflow, or a signal to a leaver that is still waiting (a new date, or a rehire that cancels it).
// plan.ts decides which, transitions.ts writes it. Either all of it commits with the identity
// change, or none of it does (docs/decisions/003-outbox.md).
import type { AuditEntry, Transaction } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import type { LifecycleEvent } from '../generated/prisma/client.js';
import type { LifecycleTarget } from '../../workflows/contract.js';
import { detectLifecycleChange, terminationWithdrawn, type LifecycleState } from './detect.js';
import { groupIdsOf, targetsForChange, targetsWithoutReads } from './entitlements.js';
import { EVERYONE_EVERYWHERE, type EntitlementPolicy } from './policy.js';
import { OPEN_LEAVER, planLifecycleChange } from './plan.js';
import { cancelOpenLeaver, recordEvent, rescheduleLeaver, type NewEvent } from './transitions.js';

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

/**
 * Everything a change of one identity means for its lifecycle. `withAudit` are the caller's audit
 * rows for the change: written in the new event's statement when there is one (a round trip
 * less). Returns the audit rows still to append (the caller's among them when no event was
 * recorded) and whether the outbox has rows for the relay.
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
    withAudit?: AuditEntry[];
  },
  settings: LifecycleSettings,
): Promise<{ audit: AuditEntry[]; wroteOutbox: boolean }> {
  const change = detectLifecycleChange(input.before, input.after, input.now);
  const withdrawn = terminationWithdrawn(input.before, input.after);
  const audit: AuditEntry[] = [...(input.withAudit ?? [])];
  if (!change && !withdrawn) return { audit, wroteOutbox: false };

  const openLeaver =
    input.openLeaver !== undefined
      ? input.openLeaver
      : await tx.lifecycleEvent.findFirst({
          where: { identityId: input.identityId, kind: 'leaver', status: { in: [...OPEN_LEAVER] } },
          orderBy: { createdAt: 'desc' },
        });
  const plan = planLifecycleChange({ change, withdrawn, openLeaver: openLeaver !== null, now: input.now });

  if (openLeaver && plan.cancelOpenLeaver) {
    audit.push(...(await cancelOpenLeaver(tx, openLeaver, { by: input.actor, reason: plan.cancelOpenLeaver, now: input.now })));
  }
  if (openLeaver && plan.rescheduleOpenLeaver) {
    audit.push(...(await rescheduleLeaver(tx, openLeaver, { by: input.actor, effectiveAt: plan.rescheduleOpenLeaver, changes: change?.changes })));
    return { audit, wroteOutbox: true };
  }
  const wroteOutbox = plan.cancelOpenLeaver !== undefined && openLeaver !== null;
  if (!plan.record) return { audit, wroteOutbox };

  const recorded = plan.record;
  const groupIds = recorded.kind === 'mover' || recorded.kind === 'rehire' ? await groupIdsOf(tx, input.identityId) : [];
  const targets = await targetsFor(tx, settings, { change: recorded, before: input.before, after: input.after, groupIds: { before: groupIds, after: groupIds } });
  const event = await recordEvent(tx, { identityId: input.identityId, change: recorded, targets, actor: input.actor, now: input.now, withAudit: audit }, settings);
  return { audit: event.audit, wroteOutbox: wroteOutbox || targets.length > 0 };
}

/**
 * What a change means when it can be written in one statement with the identity's own write
 * (transitions.ts's recordChangeAtOnce, decision 019): nothing, or a new event whose targets need
 * nothing read (a joiner, a leaver). Undefined when the change needs the transaction path: an open
 * leaver to cancel or move, or groups to read (a mover, a rehire).
 */
export function lifecycleChangeAtOnce(
  input: { identityId: string; before: LifecycleState | null; after: LifecycleState | null; actor: string; now: Date; openLeaver: boolean },
  settings: LifecycleSettings,
): { event?: NewEvent } | undefined {
  const change = detectLifecycleChange(input.before, input.after, input.now);
  const withdrawn = terminationWithdrawn(input.before, input.after);
  if (!change && !withdrawn) return {};
  const plan = planLifecycleChange({ change, withdrawn, openLeaver: input.openLeaver, now: input.now });
  if (plan.cancelOpenLeaver || plan.rescheduleOpenLeaver) return undefined;
  if (!plan.record) return {};
  const targets = targetsWithoutReads(plan.record, settings.systems);
  if (!targets) return undefined;
  return { event: { identityId: input.identityId, change: plan.record, targets, actor: input.actor, now: input.now } };
}
