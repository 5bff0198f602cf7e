// An HR source's values for a person, written into the person's SCIM representation: what an HR
// import row or webhook event sets now, and what a dated mover or rehire sets on its date
// (src/lifecycle/transitions.ts's beginEvent). Only the attributes that differ are written, so
// a change already in place is no write at all.
import type { Prisma } from '../db/client.js';
import type { Identity } from '../generated/prisma/client.js';
import { LIFECYCLE_USER_URN } from '../scim/lifecycle-extension.js';
import { columnsFromScim, ENTERPRISE_USER_URN, type ScimUser } from '../scim/user-mapping.js';
import { HR_ATTRIBUTES, type HrAttribute } from './mapping.js';

export type HrValues = Partial<{ terminationDate: Date | null; active: boolean } & Record<Exclude<HrAttribute, 'terminationDate' | 'active'>, string | null>>;

export function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  return (a ?? null) === (b ?? null);
}

/** The person's SCIM representation with `values`, only where they differ (so a re-import is no write at all). */
export function withValues(identity: Identity, values: HrValues): { resource: ScimUser; changed: HrAttribute[] } {
  const resource = structuredClone(identity.resource) as ScimUser;
  const schemas = new Set(Array.isArray(resource.schemas) ? (resource.schemas as string[]) : []);
  const changed: HrAttribute[] = [];
  const section = (urn: string) => {
    schemas.add(urn);
    return (resource[urn] ??= {}) as Record<string, unknown>;
  };
  for (const attribute of HR_ATTRIBUTES) {
    if (!(attribute in values)) continue;
    const value = values[attribute];
    if (sameValue(identity[attribute], value)) continue;
    changed.push(attribute);
    const target = attribute === 'active' || attribute === 'title' ? resource : section(attribute === 'terminationDate' ? LIFECYCLE_USER_URN : ENTERPRISE_USER_URN);
    const stored = value instanceof Date ? value.toISOString() : value;
    if (stored === null) delete target[attribute];
    else target[attribute] = stored;
  }
  resource.schemas = [...schemas];
  return { resource, changed };
}

/** Writes `values` to the person's row where they differ (a new version); answers the row and what changed. */
export async function writeHrValues(tx: Prisma.TransactionClient, identity: Identity, values: HrValues): Promise<{ row: Identity; changed: HrAttribute[] }> {
  const { resource, changed } = withValues(identity, values);
  if (changed.length === 0) return { row: identity, changed };
  const row = await tx.identity.update({
    where: { id: identity.id },
    data: { ...columnsFromScim(resource), resource: resource as Prisma.InputJsonValue, version: { increment: 1 } },
  });
  return { row, changed };
}

/**
 * The values a dated event's changes leave the person with (its `to`s, as stored in the event's
 * JSON), for the attributes an HR source sets.
 */
export function valuesAfterChanges(changes: Record<string, { to: unknown }>): HrValues {
  const values: Record<string, unknown> = {};
  for (const attribute of HR_ATTRIBUTES) {
    if (!(attribute in changes)) continue;
    const to = changes[attribute]!.to ?? null;
    values[attribute] = attribute === 'terminationDate' && typeof to === 'string' ? new Date(to) : to;
  }
  return values;
}
