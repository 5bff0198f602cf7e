// Where each filterable and sortable SCIM Group attribute (RFC 7643 §4.2) lives in PostgreSQL:
// columns of scim_group, and `members` in the group_member table joined to the live identities
// it names (members of deleted users are never shown, so they never match either).
import { Prisma } from '../../generated/prisma/client.js';
import {
  column,
  complex,
  constant,
  jsonArray,
  schema,
  simple,
  type AttributeMap,
  type MultiValueColumn,
  type ValueColumn,
} from './attributes.js';

export const CORE_GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

const GROUP = 'scim_group';
const groupColumn = (name: string, type: Parameters<typeof column>[2], options?: Parameters<typeof column>[3]) => column(GROUP, name, type, options);

/** One live member of the current group, as `member` (group_member) and `member_identity`. */
const LIVE_MEMBERS = Prisma.sql`"group_member" AS "member"
  JOIN "identity" AS "member_identity" ON "member_identity"."id" = "member"."identity_id" AND "member_identity"."deleted_at" IS NULL
  WHERE "member"."group_id" = "scim_group"."id"`;

/** RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else its first. Members have no primary. */
function memberValue(value: ValueColumn): MultiValueColumn {
  return {
    ...value,
    sortSql: Prisma.sql`(SELECT ${value.sql} FROM ${LIVE_MEMBERS} ORDER BY "member"."added_at", "member"."identity_id" LIMIT 1)`,
  };
}

// RFC 7643 §4.2: value is the member's id (case-exact, like every id), display its name as
// group-mapping.ts shows it, type "User" (jml's members are users only).
const memberId = memberValue(column('member', 'identity_id', 'string', { caseExact: true, nullable: false, uuid: true }));
const memberDisplay = memberValue({
  type: 'string',
  caseExact: false,
  nullable: false,
  sql: Prisma.sql`coalesce("member_identity"."display_name", "member_identity"."user_name")`,
});
const memberType = memberValue(constant('User'));

/** RFC 7643 §4.2 (Group), as declared by scimmy's schema. */
export const GROUP_ATTRIBUTES: AttributeMap = {
  resourceType: 'Group',
  coreSchema: CORE_GROUP_SCHEMA,
  defaultOrder: [Prisma.sql`"scim_group"."created_at"`],
  tiebreaker: Prisma.sql`"scim_group"."id"`,
  schemas: new Map([
    [
      CORE_GROUP_SCHEMA.toLowerCase(),
      schema({
        id: simple(groupColumn('id', 'string', { caseExact: true, nullable: false, uuid: true })),
        externalId: simple(groupColumn('external_id', 'string', { caseExact: true })),
        meta: complex({
          created: groupColumn('created_at', 'dateTime', { nullable: false }),
          lastModified: groupColumn('updated_at', 'dateTime', { nullable: false }),
          resourceType: constant('Group'),
          // The weak ETag groupToScim reports (src/scim/group-mapping.ts).
          version: { type: 'string', caseExact: true, nullable: false, sql: Prisma.sql`('W/"' || "scim_group"."version" || '"')` },
        }),
        schemas: jsonArray(Prisma.sql`("scim_group"."resource" -> 'schemas')`, [], { type: 'reference' }),
        displayName: simple(groupColumn('display_name', 'string', { nullable: false })),
        members: {
          kind: 'multiValued',
          anyValue: (condition) => Prisma.sql`EXISTS (SELECT 1 FROM ${LIVE_MEMBERS} AND ${condition})`,
          subAttributes: new Map([
            ['value', memberId],
            ['display', memberDisplay],
            ['type', memberType],
          ]),
          // `members eq "<id>"` means members.value (RFC 7644 §3.4.2.2).
          value: memberId,
        },
      }),
    ],
  ]),
};
