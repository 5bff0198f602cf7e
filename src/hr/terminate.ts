// Terminate now: the leaver who is walked out of the building. An operator deactivates the person
// in jml, which makes a leaver through the same intake as a SCIM deactivation (src/scim/users.ts's
// commitIdentityChange): the guard, the outbox and the workflow apply, and the audit trail records
// who did it and why. A future termination date is superseded, not waited for: the open leaver is
// moved to now (src/lifecycle/plan.ts), so terminating is one leaver however often it is asked.
import { z } from 'zod';
import type { Principal } from '../auth/tokens.js';
import { LIFECYCLE_USER_URN } from '../scim/lifecycle-extension.js';
import { columnsFromScim, type ScimUser } from '../scim/user-mapping.js';
import { commitIdentityChange, type ScimDependencies } from '../scim/users.js';
import type { Prisma } from '../db/client.js';
import { UnknownPerson } from './person.js';

export const terminateSchema = z.strictObject({
  reason: z.string({ error: 'is required: say why the person is terminated now' }).trim().min(1, 'is required: say why the person is terminated now').max(1000),
});

export const identityIdSchema = z.uuid({ error: 'must be a SCIM user id (a UUID)' });

export interface TerminateResult {
  identityId: string;
  userName: string;
  /** `terminated` now, or `already_inactive`: nothing changed, the earlier leaver stands. */
  outcome: 'terminated' | 'already_inactive';
  /** The person's latest leaver, which deactivates them in every system (null if none was ever needed). */
  leaver: { id: string; status: string; effectiveAt: Date; workflowId: string } | null;
  /** The future termination date this replaced with now, if there was one. */
  supersededTerminationDate: string | null;
  reason: string;
  by: string;
}

/** The SCIM representation of a person who left at `now`: inactive, with the date recorded. */
function terminatedResource(resource: ScimUser, now: Date): ScimUser {
  const schemas = Array.isArray(resource.schemas) ? (resource.schemas as string[]) : [];
  const lifecycle = (resource[LIFECYCLE_USER_URN] ?? {}) as Record<string, unknown>;
  return {
    ...resource,
    schemas: schemas.includes(LIFECYCLE_USER_URN) ? schemas : [...schemas, LIFECYCLE_USER_URN],
    active: false,
    [LIFECYCLE_USER_URN]: { ...lifecycle, terminationDate: now.toISOString() },
  };
}

export async function terminateNow(deps: ScimDependencies, input: { identityId: string; reason: string; principal: Principal }): Promise<TerminateResult> {
  const { reason } = terminateSchema.parse({ reason: input.reason });
  const identityId = identityIdSchema.parse(input.identityId);
  const live = await deps.db.identity.findFirst({ where: { id: identityId, deletedAt: null }, select: { id: true } });
  if (!live) throw new UnknownPerson(identityId);
  let outcome: TerminateResult['outcome'] = 'already_inactive';
  let superseded: string | null = null;
  const after = await commitIdentityChange(deps, input.principal, identityId, async (tx, before) => {
    // Idempotent: an inactive person has left already; the request is recorded, nothing else.
    if (!before.active) return { row: before, action: 'operator.terminate.unchanged', data: { reason } };
    const now = new Date();
    if (before.terminationDate && before.terminationDate.getTime() > now.getTime()) superseded = before.terminationDate.toISOString();
    const resource = terminatedResource(before.resource as ScimUser, now);
    const row = await tx.identity.update({
      where: { id: before.id },
      data: { ...columnsFromScim(resource), resource: resource as Prisma.InputJsonValue, version: { increment: 1 } },
    });
    outcome = 'terminated';
    return { row, action: 'operator.terminate', data: { reason, supersededTerminationDate: superseded } };
  });
  const leaver = await deps.db.lifecycleEvent.findFirst({
    where: { identityId, kind: 'leaver' },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: { id: true, status: true, effectiveAt: true, workflowId: true },
  });
  return { identityId, userName: after.userName, outcome, leaver, supersededTerminationDate: superseded, reason, by: input.principal.name };
}
