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
}

/** A live member as shown in `members`. */
export interface MemberView {
  id: string;
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

/** The attributes of a Group that scimmy has validated on its way in. */
export function groupStateFromScim(group: Record<string, unknown>): GroupState {
  const members = Array.isArray(group.members) ? (group.members as Record<string, unknown>[]) : [];
  const memberIds: string[] = [];
  const unknown: string[] = [];
  for (const member of members) {
    const value = text(member.value);
    if (value === null) throw scimError(400, 'invalidValue', 'Each member needs a value: the id of a user');
    // RFC 7643 §4.2 allows groups as members; jml's groups hold people only.
    if (typeof member.type === 'string' && member.type.toLowerCase() === 'group') {
      throw scimError(400, 'invalidValue', `Member "${value}" is a group: jml does not support nested groups`);
    }
    if (!isUuid(value)) unknown.push(value);
    else memberIds.push(value.toLowerCase());
  }
  if (unknown.length > 0) throw unknownMembers(unknown);
  return {
    displayName: String(group.displayName),
    externalId: text(group.externalId),
    memberIds: [...new Set(memberIds)],
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
    ...(members === undefined
      ? {}
      : {
          members: members.map((member) => ({
            value: member.id,
            display: member.displayName ?? member.userName,
            type: 'User',
            $ref: `${usersLocation}/${member.id}`,
          })),
        }),
    meta: { created: group.createdAt, lastModified: group.updatedAt, version: groupEtag(group) },
  };
}
