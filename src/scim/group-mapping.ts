// Between the SCIM Group representation (RFC 7643 §4.2) and the scim_group and group_member rows.
import type { ScimGroup } from '../generated/prisma/client.js';
import { scimError } from './errors.js';
import { CORE_GROUP_SCHEMA } from './query/group-attributes.js';

export type ScimGroupResource = Record<string, unknown> & { id: string };

/** A group's attributes as jml keeps them; members are user ids, in the order they are shown. */
export interface GroupState {
  displayName: string;
  externalId: string | null;
  memberIds: string[];
  /** The `display` the client gave a member, by user id (RFC 7643 §2.4: kept as sent). */
  displays?: Record<string, string>;
}

/** A live member as shown in `members`. */
export interface MemberView {
  id: string;
  /** What the client sent as the member's display when it added it, if anything. */
  display: string | null;
  displayName: string | null;
  userName: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** An unknown member is a 400 invalidValue naming it (RFC 7644 §3.12); the client can fix the request. */
export function unknownMembers(ids: readonly string[]): Error {
  const shown = ids.slice(0, 10).map((id) => `"${id}"`).join(', ');
  const more = ids.length > 10 ? ` and ${ids.length - 10} more` : '';
  const noun = ids.length === 1 ? 'member is not a user' : 'members are not users';
  return scimError(400, 'invalidValue', `Group ${noun} known to jml: ${shown}${more}. Provision the user first.`);
}

function isGroupMember(member: unknown): member is { value?: unknown; type: string } {
  return member !== null && typeof member === 'object' && typeof (member as { type?: unknown }).type === 'string' && (member as { type: string }).type.toLowerCase() === 'group';
}

function nestedGroupRefusal(member: { value?: unknown }): Error {
  return scimError(400, 'invalidValue', `Member ${JSON.stringify(member.value ?? null)} is a group: jml's groups hold users only (its Group schema advertises members of type "User"), so nested groups are refused`);
}

/**
 * A member of type "Group" in a POST/PUT body or a PATCH operation's value, refused before scimmy
 * validates the request: scimmy would answer only that "Group" is not a canonical value of
 * `type` (jml advertises "User" alone), which does not tell the client why.
 */
export function refuseGroupMembers(body: unknown): void {
  const membersIn = (value: unknown): unknown[] => {
    if (Array.isArray(value)) return value;
    if (value === null || typeof value !== 'object') return [];
    const members = Object.entries(value as Record<string, unknown>).find(([key]) => key.toLowerCase() === 'members')?.[1];
    return Array.isArray(members) ? members : [];
  };
  if (body === null || typeof body !== 'object') return;
  const { Operations: operations } = body as { Operations?: unknown };
  const candidates = Array.isArray(operations)
    ? (operations as unknown[]).flatMap((operation): unknown[] => {
        const { path, value } = (operation ?? {}) as { path?: unknown; value?: unknown };
        if (typeof path === 'string' && !/^members$/i.test(path.trim())) return [];
        return typeof path === 'string' ? (Array.isArray(value) ? (value as unknown[]) : [value]) : membersIn(value);
      })
    : membersIn(body);
  const group = candidates.find(isGroupMember);
  if (group) throw nestedGroupRefusal(group);
}

/** The attributes of a Group that scimmy has validated on its way in. */
export function groupStateFromScim(group: Record<string, unknown>): GroupState {
  const members = Array.isArray(group.members) ? (group.members as Record<string, unknown>[]) : [];
  const memberIds: string[] = [];
  const displays: Record<string, string> = {};
  const unknown: string[] = [];
  for (const member of members) {
    const value = text(member.value);
    if (value === null) throw scimError(400, 'invalidValue', 'Each member needs a value: the id of a user');
    // RFC 7643 §4.2 allows groups as members; jml's groups hold people only.
    if (isGroupMember(member)) throw nestedGroupRefusal(member);
    if (!isUuid(value)) unknown.push(value);
    else {
      memberIds.push(value.toLowerCase());
      const display = text(member.display);
      if (display !== null) displays[value.toLowerCase()] = display;
    }
  }
  if (unknown.length > 0) throw unknownMembers(unknown);
  return {
    displayName: String(group.displayName),
    externalId: text(group.externalId),
    memberIds: [...new Set(memberIds)],
    displays,
  };
}

/** What scim_group.resource holds: the representation without id, meta and members. */
export function groupResourceJson(state: GroupState): Record<string, unknown> {
  return { schemas: [CORE_GROUP_SCHEMA], displayName: state.displayName, ...(state.externalId === null ? {} : { externalId: state.externalId }) };
}

/** RFC 7644 §3.14: the version is a weak entity tag. */
export function groupEtag(group: Pick<ScimGroup, 'version'>): string {
  return `W/"${group.version}"`;
}

/**
 * The representation scimmy formats for output (it adds meta.location and resourceType).
 * `usersLocation` is where Users live (scimmy's User basepath), for each member's absolute $ref.
 */
export function groupToScim(group: ScimGroup, members: readonly MemberView[] | undefined, usersLocation: string): ScimGroupResource {
  return {
    ...(group.resource as Record<string, unknown>),
    id: group.id,
    displayName: group.displayName,
    ...(group.externalId === null ? {} : { externalId: group.externalId }),
    // RFC 7643 §2.5: an empty multi-valued attribute is unassigned and MAY be omitted; clients
    // that remove every member then read `members` as gone, not as `[]` (scim2-tester checks this).
    ...(members === undefined || members.length === 0
      ? {}
      : {
          members: members.map((member) => ({
            value: member.id,
            // RFC 7643 §2.4: `display` is immutable, so the client's value stays as sent; jml
            // fills it from the user only when the client gave none.
            display: member.display ?? member.displayName ?? member.userName,
            type: 'User',
            $ref: `${usersLocation}/${member.id}`,
          })),
        }),
    meta: { created: group.createdAt, lastModified: group.updatedAt, version: groupEtag(group) },
  };
}
