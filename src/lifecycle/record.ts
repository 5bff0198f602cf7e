// Writes what a SCIM change means for the lifecycle, inside the SCIM request's transaction: a new
// event with one target action per downstream system and the outbox row that starts its workflow,
// or a signal to a leaver that is still waiting (a new date, or a rehire that cancels it). Either
// all of it commits with the identity change, or none of it does (docs/decisions/003-outbox.md).
import { randomUUID } from 'node:crypto';
import type { Prisma } from '../db/client.js';
import type { AuditEntry, Transaction } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import { toJson } from '../audit/canonical.js';
import {
  LIFECYCLE_WORKFLOW,
  workflowIdForEvent,
  type LifecycleTarget,
  type LifecycleWorkflowInput,
} from '../../workflows/contract.js';
import { detectLifecycleChange, terminationWithdrawn, type DetectedChange, type LifecycleState } from './detect.js';
import { groupIdsOf, targetsForChange } from './entitlements.js';
import { EVERYONE_EVERYWHERE, type EntitlementPolicy } from './policy.js';

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

/** Leaver statuses in which the change has not been acted on yet and can still be steered. */
const OPEN_LEAVER = ['pending', 'waiting', 'held'] as const;

/** The downstream actions `change` asks for, under the settings' entitlement policy. */
export function targetsFor(
  tx: Transaction,
  settings: LifecycleSettings,
  input: Omit<Parameters<typeof targetsForChange>[2], 'before' | 'after'> & { before: LifecycleState | null; after: LifecycleState | null },
): Promise<LifecycleTarget[]> {
  return targetsForChange(tx, { policy: settings.policy ?? EVERYONE_EVERYWHERE, systems: settings.systems }, input);
}

async function signal(tx: Transaction, workflowId: string, name: string, payload: Record<string, unknown>) {
  await tx.outboxEntry.create({ data: { kind: 'signal', workflowId, signal: name, args: toJson([payload]) as Prisma.InputJsonValue } });
}

export async function recordLifecycleEvent(
  tx: Transaction,
  input: { identityId: string; change: DetectedChange; targets: LifecycleTarget[]; actor: string; now: Date },
  settings: LifecycleSettings,
): Promise<{ eventId: string; audit: AuditEntry[] }> {
  const eventId = randomUUID();
  const workflowId = workflowIdForEvent(eventId);
  const { targets, change } = input;
  const changes = toJson(change.changes) as Prisma.InputJsonValue;
  await tx.lifecycleEvent.create({
    data: {
      id: eventId,
      identityId: input.identityId,
      kind: change.kind,
      // An event with nothing to do downstream is complete as soon as it is recorded.
      status: targets.length === 0 ? 'completed' : 'pending',
      completedAt: targets.length === 0 ? input.now : null,
      actor: input.actor,
      effectiveAt: change.effectiveAt ?? input.now,
      workflowId,
      changes,
    },
  });
  if (targets.length > 0) {
    await tx.targetAction.createMany({ data: targets.map((target) => ({ eventId, system: target.system, action: target.action })) });
    const args: LifecycleWorkflowInput = {
      eventId,
      kind: change.kind,
      targets,
      queuePrefix: settings.queuePrefix,
      retryDeadlineMs: settings.retryDeadlineMs,
      retryInitialIntervalMs: settings.retryInitialIntervalMs,
      retryMaximumIntervalMs: settings.retryMaximumIntervalMs,
      effectiveAt: change.effectiveAt?.toISOString(),
      immediateSystems: change.effectiveAt ? settings.disableNowSystems?.filter((system) => targets.some((target) => target.system === system)) : undefined,
      guard: change.kind === 'leaver' && (settings.guard ?? false),
    };
    await tx.outboxEntry.create({
      data: { kind: 'start', workflowId, workflowType: LIFECYCLE_WORKFLOW, args: toJson([args]) as Prisma.InputJsonValue },
    });
  }
  return {
    eventId,
    audit: [
      {
        actor: input.actor,
        action: `lifecycle.${change.kind}.detected`,
        identityId: input.identityId,
        eventId,
        data: { changes: change.changes, targets, workflowId, effectiveAt: (change.effectiveAt ?? input.now).toISOString() },
      },
    ],
  };
}

/**
 * Everything a change of one identity means for its lifecycle. Returns the audit rows to append
 * and whether the outbox has rows for the relay.
 */
export async function recordLifecycleChange(
  tx: Transaction,
  input: { identityId: string; before: LifecycleState | null; after: LifecycleState | null; actor: string; now: Date },
  settings: LifecycleSettings,
): Promise<{ audit: AuditEntry[]; wroteOutbox: boolean }> {
  const change = detectLifecycleChange(input.before, input.after, input.now);
  const withdrawn = terminationWithdrawn(input.before, input.after);
  if (!change && !withdrawn) return { audit: [], wroteOutbox: false };

  const audit: AuditEntry[] = [];
  let wroteOutbox = false;
  const openLeaver = await tx.lifecycleEvent.findFirst({
    where: { identityId: input.identityId, kind: 'leaver', status: { in: [...OPEN_LEAVER] } },
    orderBy: { createdAt: 'desc' },
  });

  // A rehire, or a termination date taken back, before a leaver acted: the leaver is off. The
  // database decides (the workflow checks it before acting); the signal wakes a waiting workflow.
  if (openLeaver && (withdrawn || change?.kind === 'rehire')) {
    const reason = withdrawn ? 'termination date withdrawn' : 'rehired before the leaver took effect';
    await tx.$queryRaw`SELECT id FROM lifecycle_event WHERE id = ${openLeaver.id}::uuid FOR UPDATE`;
    await tx.targetAction.updateMany({ where: { eventId: openLeaver.id, status: 'pending' }, data: { status: 'cancelled' } });
    await tx.lifecycleEvent.update({ where: { id: openLeaver.id }, data: { status: 'cancelled', completedAt: input.now } });
    await signal(tx, openLeaver.workflowId, 'cancel', { by: input.actor, reason });
    audit.push({ actor: input.actor, action: 'lifecycle.leaver.cancelled', identityId: input.identityId, eventId: openLeaver.id, data: { reason } });
    wroteOutbox = true;
  }
  if (!change) return { audit, wroteOutbox };

  // Already leaving: a new date, or the deactivation itself, moves the open leaver's date.
  if (change.kind === 'leaver' && openLeaver) {
    const effectiveAt = (change.effectiveAt ?? input.now).toISOString();
    await signal(tx, openLeaver.workflowId, 'reschedule', { by: input.actor, effectiveAt });
    await tx.lifecycleEvent.update({ where: { id: openLeaver.id }, data: { effectiveAt: new Date(effectiveAt) } });
    audit.push({ actor: input.actor, action: 'lifecycle.leaver.rescheduled', identityId: input.identityId, eventId: openLeaver.id, data: { changes: change.changes, effectiveAt } });
    return { audit, wroteOutbox: true };
  }

  const groupIds = change.kind === 'mover' || change.kind === 'rehire' ? await groupIdsOf(tx, input.identityId) : [];
  const targets = await targetsFor(tx, settings, { change, before: input.before, after: input.after, groupIds: { before: groupIds, after: groupIds } });
  const recorded = await recordLifecycleEvent(tx, { identityId: input.identityId, change, targets, actor: input.actor, now: input.now }, settings);
  audit.push(...recorded.audit);
  return { audit, wroteOutbox: wroteOutbox || targets.length > 0 };
}
