// The SCIM Groups resource over PostgreSQL (RFC 7643 §4.2, RFC 7644). Each write runs in one
// transaction: the group row, its memberships, a mover event for each person whose groups change
// and the audit rows all commit together, or none of them do.
import { randomUUID } from 'node:crypto';
import SCIMMY from 'scimmy';
import { appendAudit, type AuditEntry } from '../audit/append.js';
import type { Database, Prisma } from '../db/client.js';
import type { ScimGroup } from '../generated/prisma/client.js';
import { recordMembershipMovers } from '../lifecycle/group-membership.js';
import { scimError, toScimError } from './errors.js';
import { etagMatches } from './etag.js';
import {
  groupEtag,
  groupResourceJson,
  groupStateFromScim,
  groupToScim,
  isUuid,
  unknownMembers,
  type GroupState,
  type MemberView,
  type ScimGroupResource,
} from './group-mapping.js';
import { listGroupIds } from './query/list-groups.js';
import type { IdentityListQuery } from './query/list.js';
import type { ScimRequestContext } from './users.js';

type GroupResource = InstanceType<typeof SCIMMY.Resources.Group>;
type Reader = Database | Prisma.TransactionClient;

/**
 * What each PATCH's read showed, by the scimmy resource instance that reads and then writes
 * (Resource#patch calls egress, applies the operations, then calls ingress on the same instance).
 */
const patchBases = new WeakMap<GroupResource, GroupState>();

function notFound(id: string) {
  return scimError(404, undefined, `Resource ${id} not found`);
}

/** A resource type's location; scimmy-routers sets it from each request (called bare, basepath reads it). */
function basepathOf(resource: typeof SCIMMY.Resources.User | typeof SCIMMY.Resources.Group): string | undefined {
  const path: unknown = resource.basepath();
  return typeof path === 'string' ? path : undefined;
}

/** Where Users live, for each member's absolute $ref. */
function usersLocation(): string {
  return basepathOf(SCIMMY.Resources.User) ?? '/Users';
}

async function lockGroup(tx: Prisma.TransactionClient, id: string): Promise<ScimGroup | null> {
  if (!isUuid(id)) return null;
  const locked = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM scim_group WHERE id = ${id}::uuid AND deleted_at IS NULL FOR UPDATE`;
  return locked.length === 0 ? null : tx.scimGroup.findUnique({ where: { id } });
}

/** Each group's live members in the order they are shown (first added first), in one query. */
async function memberViews(db: Reader, groupIds: string[]): Promise<Map<string, MemberView[]>> {
  const byGroup = new Map<string, MemberView[]>(groupIds.map((id) => [id, []]));
  if (groupIds.length === 0) return byGroup;
  const rows = await db.$queryRaw<{ group_id: string; id: string; display: string | null; display_name: string | null; user_name: string }[]>`
    SELECT gm.group_id::text AS group_id, i.id::text AS id, gm.display, i.display_name, i.user_name
    FROM group_member gm JOIN identity i ON i.id = gm.identity_id AND i.deleted_at IS NULL
    WHERE gm.group_id = ANY(${groupIds}::uuid[])
    ORDER BY gm.group_id, gm.added_at, gm.identity_id`;
  for (const row of rows) byGroup.get(row.group_id)?.push({ id: row.id, display: row.display, displayName: row.display_name, userName: row.user_name });
  return byGroup;
}

/** RFC 7644 §3.12: a member that is not a live user is the client's mistake, named in a 400. */
async function assertLiveUsers(tx: Prisma.TransactionClient, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const found = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM identity WHERE id = ANY(${ids}::uuid[]) AND deleted_at IS NULL`;
  const live = new Set(found.map((row) => row.id));
  const unknown = ids.filter((id) => !live.has(id));
  if (unknown.length > 0) throw unknownMembers(unknown);
}

function without(ids: readonly string[], removed: readonly string[]): string[] {
  const drop = new Set(removed);
  return ids.filter((id) => !drop.has(id));
}

/**
 * A PATCH is computed by scimmy from a read taken outside the write's transaction. Applying its
 * result whole would undo any write that landed in between (identity providers send membership
 * PATCHes to one group concurrently), so only what the PATCH changed relative to its read is
 * applied to the group as it is now, under the row lock.
 */
function mergePatch(base: GroupState, patched: GroupState, current: GroupState): GroupState {
  const added = without(patched.memberIds, base.memberIds);
  const removed = without(base.memberIds, patched.memberIds);
  return {
    displayName: patched.displayName !== base.displayName ? patched.displayName : current.displayName,
    externalId: patched.externalId !== base.externalId ? patched.externalId : current.externalId,
    memberIds: without([...new Set([...current.memberIds, ...added])], removed),
    displays: patched.displays,
  };
}

function sameState(a: GroupState, b: GroupState): boolean {
  const members = new Set(a.memberIds);
  return a.displayName === b.displayName && a.externalId === b.externalId
    && a.memberIds.length === b.memberIds.length && b.memberIds.every((id) => members.has(id));
}

/** The audit trail's view of a group: its names and its members' user ids. */
function auditView(state: GroupState | null) {
  return state && { displayName: state.displayName, externalId: state.externalId, members: state.memberIds };
}

const DELETED = Symbol('deleted');

/**
 * Writes a group and its consequences in one transaction: `decide` gets the group as it is under
 * the row lock (null for a create) and answers what it should become, or DELETED.
 */
async function commitGroup(
  context: ScimRequestContext,
  id: string | undefined,
  decide: (current: GroupState | null) => GroupState | typeof DELETED,
): Promise<{ row: ScimGroup; members: MemberView[] }> {
  const { deps, principal } = context;
  let movers = 0;
  const result = await deps.db.$transaction(async (tx) => {
    const before = id === undefined ? null : await lockGroup(tx, id);
    if (id !== undefined && !before) throw notFound(id);
    // RFC 7644 §3.14: checked under the row lock, so no write slips in between check and change.
    const ifMatch = context.preconditions.ifMatch;
    if (before && ifMatch && !etagMatches(ifMatch, groupEtag(before))) {
      throw scimError(412, undefined, `If-Match does not match the current version ${groupEtag(before)}: read the group again`);
    }
    const current: GroupState | null = before && {
      displayName: before.displayName,
      externalId: before.externalId,
      memberIds: ((await memberViews(tx, [before.id])).get(before.id) ?? []).map((member) => member.id),
    };
    const decided = decide(current);
    const target = decided === DELETED ? null : decided;
    const added = without(target?.memberIds ?? [], current?.memberIds ?? []);
    const removed = without(current?.memberIds ?? [], target?.memberIds ?? []);
    await assertLiveUsers(tx, added);
    const now = new Date();
    const groupId = before?.id ?? randomUUID();

    // Reads each person's groups as they were, so it runs before any row below changes.
    const recorded = await recordMembershipMovers(tx, { groupId, added, removed }, { actor: principal.name, now }, deps.lifecycle);
    movers = recorded.events;

    let row: ScimGroup;
    let action: string;
    if (!before || !current) {
      const state = target!;
      const data = { id: groupId, displayName: state.displayName, externalId: state.externalId, resource: groupResourceJson(state) as Prisma.InputJsonValue };
      row = await tx.scimGroup.create({ data });
      action = 'scim.group.created';
    } else if (!target) {
      // The row stays, marked deleted: the audit trail must still be able to name the group.
      row = await tx.scimGroup.update({ where: { id: groupId }, data: { deletedAt: now, version: { increment: 1 } } });
      action = 'scim.group.deleted';
    } else if (sameState(current, target)) {
      // Identity providers resend unchanged groups; those keep their version (and ETag).
      row = before;
      action = 'scim.group.unchanged';
    } else {
      const data = { displayName: target.displayName, externalId: target.externalId, resource: groupResourceJson(target) as Prisma.InputJsonValue };
      row = await tx.scimGroup.update({ where: { id: groupId }, data: { ...data, version: { increment: 1 } } });
      action = 'scim.group.replaced';
    }

    if (!target) {
      // All rows, also those of deleted users that were no longer shown.
      await tx.groupMember.deleteMany({ where: { groupId: row.id } });
    } else {
      // One statement each, however many members change (an identity provider adds thousands at once).
      if (removed.length > 0) {
        await tx.$executeRaw`DELETE FROM group_member WHERE group_id = ${row.id}::uuid AND identity_id = ANY(${removed}::uuid[])`;
      }
      if (added.length > 0) {
        // A member's display is written once, when it is added (RFC 7643 §2.4: immutable).
        const displays = added.map((member) => target.displays?.[member] ?? null);
        await tx.$executeRaw`
          INSERT INTO group_member (group_id, identity_id, display, added_at)
          SELECT ${row.id}::uuid, member.id, member.display, ${now} FROM unnest(${added}::uuid[], ${displays}::text[]) AS member(id, display)
          ON CONFLICT (group_id, identity_id) DO NOTHING`;
      }
    }
    const members = target ? ((await memberViews(tx, [row.id])).get(row.id) ?? []) : [];

    const audit: AuditEntry[] = [
      {
        actor: principal.name,
        action,
        data: { client: principal.name, tokenId: principal.tokenId, groupId: row.id, before: auditView(current), after: auditView(target) },
      },
      ...recorded.audit,
    ];
    await appendAudit(tx, audit, now);
    return { row, members };
  });
  // Movers ask nothing downstream today, but a policy may give them targets (and outbox rows).
  if (movers > 0) deps.onOutboxWritten();
  return result;
}

async function writeGroup(context: ScimRequestContext, resource: GroupResource, instance: object): Promise<ScimGroupResource> {
  // scimmy hands a parsed Schemas.Group; its JSON form is what the client asked for.
  const requested = groupStateFromScim(JSON.parse(JSON.stringify(instance)) as Record<string, unknown>);
  const base = resource.id === undefined ? undefined : patchBases.get(resource);
  const { row, members } = await commitGroup(context, resource.id, (current) =>
    // Without a base this is a POST or a PUT: RFC 7644 §3.5.1, the request replaces the group.
    current && base ? mergePatch(base, requested, current) : requested,
  );
  return groupToScim(row, members, usersLocation());
}

async function deleteGroup(context: ScimRequestContext, id: string): Promise<void> {
  await commitGroup(context, id, () => DELETED);
}

/** The member ids and names a representation shows, read as tolerantly as the client sees it. */
function shownState(view: Record<string, unknown>): GroupState {
  const members = Array.isArray(view.members) ? (view.members as { value?: unknown }[]) : [];
  return {
    displayName: typeof view.displayName === 'string' ? view.displayName : '',
    externalId: typeof view.externalId === 'string' && view.externalId !== '' ? view.externalId : null,
    memberIds: members.flatMap((member) => (typeof member.value === 'string' ? [member.value.toLowerCase()] : [])),
  };
}

/** The SCIM representations of live groups, for list responses; members only when asked for. */
export async function loadGroups(db: Database, ids: string[], options: { members?: boolean } = {}): Promise<ScimGroupResource[]> {
  const rows = await db.scimGroup.findMany({ where: { id: { in: ids }, deletedAt: null } });
  const members = options.members === false ? undefined : await memberViews(db, rows.map((row) => row.id));
  const location = usersLocation();
  return rows.map((row) => groupToScim(row, members ? (members.get(row.id) ?? []) : undefined, location));
}

/** Whether `attributes` or `excludedAttributes` leave `members` in the response (RFC 7644 §3.9). */
function showsMembers(resource: GroupResource): boolean {
  const expression = resource.attributes?.expression;
  if (typeof expression !== 'string') return true;
  const terms = expression.split(/\s+and\s+/i).map((term) => term.trim().toLowerCase());
  if (terms.some((term) => term.endsWith(' np'))) return !terms.includes('members np');
  return terms.some((term) => term.startsWith('members ') || term.startsWith('members.'));
}

async function readGroups(context: ScimRequestContext, resource: GroupResource): Promise<ScimGroupResource | ScimGroupResource[]> {
  const { db } = context.deps;
  if (resource.id) {
    const group = isUuid(resource.id) ? await db.scimGroup.findFirst({ where: { id: resource.id, deletedAt: null } }) : null;
    if (!group) throw notFound(resource.id);
    const output = groupToScim(group, (await memberViews(db, [group.id])).get(group.id) ?? [], usersLocation());
    // A PATCH applies its operations to this read as scimmy shows it, after attributes and
    // excludedAttributes: a PATCH sent with excludedAttributes=members must not read as "no members".
    const shown = new SCIMMY.Schemas.Group(output, 'out', basepathOf(SCIMMY.Resources.Group), resource.attributes);
    patchBases.set(resource, shownState(JSON.parse(JSON.stringify(shown)) as Record<string, unknown>));
    return output;
  }
  const constraints = (resource.constraints ?? {}) as IdentityListQuery;
  const { ids, totalResults } = await listGroupIds(db, {
    filter: resource.filter?.expression,
    sortBy: constraints.sortBy,
    sortOrder: constraints.sortOrder,
    startIndex: constraints.startIndex,
    count: constraints.count,
  });
  const groups = await loadGroups(db, ids, { members: showsMembers(resource) });
  const byId = new Map(groups.map((group) => [group.id, group]));
  // scimmy builds the ListResponse; it must not slice or sort the page again.
  Object.assign(resource.constraints ?? (resource.constraints = {}), { totalResults });
  return ids.flatMap((groupId) => byId.get(groupId) ?? []);
}

/** Errors leave as SCIM errors chosen here: scimmy would turn the ones it does not know into 404s. */
function converted<A extends unknown[], R>(handler: (...args: A) => Promise<R>) {
  return (...args: A): Promise<R> => handler(...args).catch((error: unknown) => Promise.reject(toScimError(error)));
}

let declared = false;

/**
 * RFC 7643 §4.2 lets a group's members be users or groups, and scimmy's Group schema says both
 * (`members.$ref` referenceTypes and `members.type` canonicalValues "User" and "Group"). jml's
 * groups hold people only, and RFC 7644 §4 says discovery advertises what the provider
 * supports: both say "User" alone, so clients that read /Schemas (scim2-tester does) send no
 * groups as members. One that does is refused by refuseGroupMembers, naming the member.
 */
function advertiseUserMembersOnly(): void {
  const members = SCIMMY.Schemas.Group.definition.attribute('members') as unknown as { subAttributes: { name: string; config: Record<string, unknown> }[] };
  for (const sub of members.subAttributes) {
    if (sub.name === '$ref') sub.config.referenceTypes = ['User'];
    if (sub.name === 'type') sub.config.canonicalValues = ['User'];
  }
}

/** Declares Groups to scimmy once per process; per-request dependencies arrive in the context. */
export function declareGroupsResource(): void {
  if (declared) return;
  declared = true;
  advertiseUserMembersOnly();
  const ingress = converted((resource: GroupResource, instance: object, context: ScimRequestContext) => writeGroup(context, resource, instance));
  const egress = converted((resource: GroupResource, context: ScimRequestContext) => readGroups(context, resource));
  const degress = converted((resource: GroupResource, context: ScimRequestContext) => deleteGroup(context, resource.id!));
  // scimmy's handler types want its own schema class back; it only reads the object's attributes.
  SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .ingress(ingress as unknown as Parameters<typeof SCIMMY.Resources.Group.ingress>[0])
    .egress(egress as unknown as Parameters<typeof SCIMMY.Resources.Group.egress>[0])
    .degress(degress);
}
