// Writes a detected lifecycle change inside the SCIM request's transaction: the event, one target
// action per downstream system and the outbox row that will start its workflow. Either all of
// it commits with the identity change, or none of it does (docs/decisions/003-outbox.md).
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
import type { DetectedChange } from './detect.js';

export interface LifecycleSettings {
  /** The downstream systems that are configured. */
  systems: readonly SystemName[];
  queuePrefix: string;
  retryDeadlineMs: number;
}

/** Which downstream actions an event asks for. Joiners ask for none: jml does not create accounts. */
export function targetsFor(change: DetectedChange, systems: readonly SystemName[]): LifecycleTarget[] {
  switch (change.kind) {
    case 'leaver':
      return systems.map((system) => ({ system, action: 'deactivate' }));
    case 'rehire':
      return systems.map((system) => ({ system, action: 'reactivate' }));
    case 'joiner':
    case 'mover':
      return [];
  }
}

export async function recordLifecycleEvent(
  tx: Transaction,
  input: { identityId: string; change: DetectedChange; actor: string; now: Date },
  settings: LifecycleSettings,
): Promise<{ eventId: string; audit: AuditEntry[] }> {
  const eventId = randomUUID();
  const workflowId = workflowIdForEvent(eventId);
  const targets = targetsFor(input.change, settings.systems);
  const changes = toJson(input.change.changes) as Prisma.InputJsonValue;
  await tx.lifecycleEvent.create({
    data: {
      id: eventId,
      identityId: input.identityId,
      kind: input.change.kind,
      // An event with nothing to do downstream is complete as soon as it is recorded.
      status: targets.length === 0 ? 'completed' : 'pending',
      completedAt: targets.length === 0 ? input.now : null,
      actor: input.actor,
      effectiveAt: input.now,
      workflowId,
      changes,
    },
  });
  if (targets.length > 0) {
    await tx.targetAction.createMany({
      data: targets.map((target) => ({ eventId, system: target.system, action: target.action })),
    });
    const args: LifecycleWorkflowInput = {
      eventId,
      kind: input.change.kind,
      targets,
      queuePrefix: settings.queuePrefix,
      retryDeadlineMs: settings.retryDeadlineMs,
    };
    await tx.outboxEntry.create({
      data: { workflowId, workflowType: LIFECYCLE_WORKFLOW, args: toJson([args]) as Prisma.InputJsonValue },
    });
  }
  return {
    eventId,
    audit: [
      {
        actor: input.actor,
        action: `lifecycle.${input.change.kind}.detected`,
        identityId: input.identityId,
        eventId,
        data: { changes: input.change.changes, targets, workflowId },
      },
    ],
  };
}
