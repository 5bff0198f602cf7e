// Between the SCIM User representation (RFC 7643 §4.1, EnterpriseUser §4.3) and the identity row.
import { canonicalJson } from '../audit/canonical.js';
import type { Identity } from '../generated/prisma/client.js';
import { LIFECYCLE_USER_URN } from './lifecycle-extension.js';

export const CORE_USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

export type ScimUser = Record<string, unknown>;

interface EmailValue {
  value?: string;
  primary?: boolean;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function primaryEmail(user: ScimUser): string | null {
  const emails = Array.isArray(user.emails) ? (user.emails as EmailValue[]) : [];
  return text((emails.find((email) => email.primary) ?? emails[0])?.value);
}

/** The searchable columns, copied from the SCIM representation. */
export function columnsFromScim(user: ScimUser) {
  const name = (user.name ?? {}) as Record<string, unknown>;
  const enterprise = (user[ENTERPRISE_USER_URN] ?? {}) as Record<string, unknown>;
  const manager = enterprise.manager as { value?: unknown } | undefined;
  const lifecycle = (user[LIFECYCLE_USER_URN] ?? {}) as Record<string, unknown>;
  const terminationDate = lifecycle.terminationDate ? new Date(lifecycle.terminationDate as string | Date) : null;
  return {
    userName: String(user.userName),
    externalId: text(user.externalId),
    // RFC 7643 §4.1.1: active has no default; a user created without it is active.
    active: user.active !== false,
    displayName: text(user.displayName),
    givenName: text(name.givenName),
    familyName: text(name.familyName),
    email: primaryEmail(user),
    title: text(user.title),
    department: text(enterprise.department),
    division: text(enterprise.division),
    organization: text(enterprise.organization),
    costCenter: text(enterprise.costCenter),
    employeeNumber: text(enterprise.employeeNumber),
    managerId: text(manager?.value),
    terminationDate: terminationDate && !Number.isNaN(terminationDate.getTime()) ? terminationDate : null,
  };
}

/** RFC 7644 §3.14: the version is a weak entity tag. */
export function etagOf(identity: Pick<Identity, 'version'>): string {
  return `W/"${identity.version}"`;
}

/** The representation scimmy formats for output (it adds meta.location and resourceType). */
export function identityToScim(identity: Identity): ScimUser {
  return {
    ...(identity.resource as ScimUser),
    id: identity.id,
    active: identity.active,
    meta: { created: identity.createdAt, lastModified: identity.updatedAt, version: etagOf(identity) },
  };
}

/**
 * Whether a write leaves the person as a client sees them. Compared as shown (identityToScim
 * shows `active` from its column, which a stored resource created without it lacks), so that a
 * PATCH `add` of a value already there, which RFC 7644 §3.5.2.1 says SHALL NOT change anything,
 * keeps the version and meta.lastModified.
 */
export function sameRepresentation(before: Identity, resource: ScimUser, active: boolean): boolean {
  // A leaver or a re-activation differs in `active` alone: no need to serialise both to see it.
  if (before.active !== active) return false;
  return canonicalJson({ ...(before.resource as ScimUser), active: before.active }) === canonicalJson({ ...resource, active });
}
