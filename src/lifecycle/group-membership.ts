// A person who joins or leaves a group is a mover: one event per affected person per request,
// with the person's group ids before and after, written in the group write's transaction.
// Which downstream systems a group change concerns is the entitlement policy's to decide.
import type { AuditEntry, Transaction } from '../audit/append.js';
import { lifecycleStateOf, type DetectedChange } from './detect.js';
import { recordLifecycleEvent, targetsFor, type LifecycleSettings } from './record.js';

export interface MembershipChange {
  groupId: string;
  /** Identity ids that become members. */
  added: readonly string[];
  /** Identity ids that stop being members (all of them when the group is deleted). */
  removed: readonly string[];
}

/**
 * Records a mover for each live, active person whose membership `change` alters, and returns the
 * audit entries to append. Call it before the group_member rows change: it reads each person's
 * groups as they were. It locks those people's identity rows, in id order, so that concurrent
 * writes to other groups (and to the users themselves) serialise and every event's before and
 * after are exact.
 */
export async function recordMembershipMovers(
  tx: Transaction,
  change: MembershipChange,
  input: { actor: string; now: Date },
  settings: LifecycleSettings,
): Promise<{ audit: AuditEntry[]; events: number }> {
  const affected = [...new Set([...change.added, ...change.removed])];
  if (affected.length === 0) return { audit: [], events: 0 };
  const locked = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM identity
    WHERE id = ANY(${affected}::uuid[]) AND deleted_at IS NULL AND active
    ORDER BY id FOR UPDATE`;
  if (locked.length === 0) return { audit: [], events: 0 };
  const memberships = await tx.$queryRaw<{ id: string; groups: string[] }[]>`
    SELECT i.id::text AS id,
      coalesce(array_agg(g.id::text ORDER BY g.id) FILTER (WHERE g.id IS NOT NULL), ARRAY[]::text[]) AS groups
    FROM identity i
    LEFT JOIN group_member gm ON gm.identity_id = i.id
    LEFT JOIN scim_group g ON g.id = gm.group_id AND g.deleted_at IS NULL
    WHERE i.id = ANY(${locked.map((row) => row.id)}::uuid[])
    GROUP BY i.id ORDER BY i.id`;
  // Their attributes, for the entitlement policy.
  const identities = await tx.identity.findMany({ where: { id: { in: locked.map((row) => row.id) } } });
  const lifecycleStates = new Map(identities.map((identity) => [identity.id, lifecycleStateOf(identity)!]));
  const added = new Set(change.added);
  const audit: AuditEntry[] = [];
  let events = 0;
  for (const { id, groups } of memberships) {
    const others = groups.filter((groupId) => groupId !== change.groupId);
    const to = added.has(id) ? [...others, change.groupId].sort() : others;
    if (to.length === groups.length && to.every((groupId, index) => groupId === groups[index])) continue;
    const mover: DetectedChange = { kind: 'mover', changes: { groups: { from: groups, to } } };
    const state = lifecycleStates.get(id)!;
    const targets = await targetsFor(tx, settings, { change: mover, before: state, after: state, groupIds: { before: groups, after: to } });
    const event = { identityId: id, change: mover, targets, actor: input.actor, now: input.now };
    const recorded = await recordLifecycleEvent(tx, event, settings);
    audit.push(...recorded.audit);
    events++;
  }
  return { audit, events };
}
