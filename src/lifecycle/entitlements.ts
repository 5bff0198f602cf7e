// Which downstream actions a lifecycle event asks for, given the entitlement policy
// (src/lifecycle/policy.ts, docs/policy.md):
// - a leaver is deactivated everywhere: an account granted outside the policy must go too;
// - a rehire is reactivated where the policy entitles them;
// - a mover is deactivated where they lost an entitlement and reactivated where they gained one;
// - a joiner asks for nothing: jml does not create accounts.
import type { Transaction } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import type { LifecycleTarget } from '../../workflows/contract.js';
import type { DetectedChange, LifecycleState } from './detect.js';
import { entitlementsOf, moverTargets, type EntitlementPolicy, type EntitlementSubject } from './policy.js';

export interface TargetContext {
  policy: EntitlementPolicy;
  systems: readonly SystemName[];
}

/** The live groups a person is in, with the names a policy may refer to them by. */
export async function groupIdsOf(tx: Transaction, identityId: string): Promise<string[]> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT g.id::text AS id FROM group_member gm JOIN scim_group g ON g.id = gm.group_id AND g.deleted_at IS NULL
    WHERE gm.identity_id = ${identityId}::uuid ORDER BY g.id`;
  return rows.map((row) => row.id);
}

async function groupsNamed(tx: Transaction, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.$queryRaw<{ id: string; display_name: string }[]>`
    SELECT id::text AS id, display_name FROM scim_group WHERE id = ANY(${[...ids]}::uuid[])`;
  return new Map(rows.map((row) => [row.id, row.display_name]));
}

function subjectOf(state: LifecycleState, groupIds: readonly string[], names: Map<string, string>): EntitlementSubject {
  return {
    department: state.department,
    title: state.title,
    managerId: state.managerId,
    costCenter: state.costCenter,
    organization: state.organization,
    division: state.division,
    groups: groupIds.map((id) => ({ id, displayName: names.get(id) ?? '' })),
  };
}

/**
 * The targets of a change that needs nothing read to know them (a joiner's none, a leaver's every
 * system); undefined for movers and rehires, whose targets depend on their groups.
 */
export function targetsWithoutReads(change: DetectedChange, systems: readonly SystemName[]): LifecycleTarget[] | undefined {
  if (change.kind === 'joiner') return [];
  if (change.kind === 'leaver') return systems.map((system) => ({ system, action: 'deactivate' }));
  return undefined;
}

export async function targetsForChange(
  tx: Transaction,
  context: TargetContext,
  input: {
    change: DetectedChange;
    before: LifecycleState | null;
    after: LifecycleState | null;
    /** The person's groups before and after (the same for a change to the user itself). */
    groupIds: { before: readonly string[]; after: readonly string[] };
  },
): Promise<LifecycleTarget[]> {
  const { change, before, after, groupIds } = input;
  switch (change.kind) {
    case 'joiner':
    case 'leaver':
      return targetsWithoutReads(change, context.systems)!;
    case 'rehire': {
      const names = await groupsNamed(tx, groupIds.after);
      const entitled = entitlementsOf(context.policy, subjectOf(after!, groupIds.after, names));
      return context.systems.filter((system) => entitled.has(system)).map((system) => ({ system, action: 'reactivate' }));
    }
    case 'mover': {
      const names = await groupsNamed(tx, [...new Set([...groupIds.before, ...groupIds.after])]);
      return moverTargets(context.policy, subjectOf(before!, groupIds.before, names), subjectOf(after!, groupIds.after, names), context.systems);
    }
  }
}
