// The SCIM Users resource over PostgreSQL. Each write runs in one transaction: the identity
// change, the lifecycle event it causes, the outbox row that starts its workflow and the audit
// rows all commit together, or none of them do.
import SCIMMY from 'scimmy';
import { appendAudit, type AuditEntry } from '../audit/append.js';
import { canonicalJson } from '../audit/canonical.js';
import { Prisma } from '../generated/prisma/client.js';
import type { Database } from '../db/client.js';
import type { Identity, LifecycleEvent } from '../generated/prisma/client.js';
import { lifecycleStateOf, MOVER_ATTRIBUTES } from '../lifecycle/detect.js';
import { OPEN_LEAVER } from '../lifecycle/plan.js';
import { recordLifecycleChange, type LifecycleSettings } from '../lifecycle/record.js';
import type { Principal } from '../auth/tokens.js';
import { etagMatches } from './etag.js';
import { LifecycleUserExtension } from './lifecycle-extension.js';
import { ScimError, scimError, toScimError } from './errors.js';
import { columnsFromScim, etagOf, identityToScim, type ScimUser } from './user-mapping.js';

export interface ScimDependencies {
  db: Database;
  lifecycle: LifecycleSettings;
  /** Called after a commit that wrote outbox rows, so their workflows start at once. */
  onOutboxWritten: () => void;
  /** Called after each committed user write (demo mode creates the person's accounts). */
  onIdentityWritten?: (identity: Identity) => void;
}

/** What the request requires of the resource's current version (RFC 7644 §3.14). */
export interface Preconditions {
  /** The If-Match header. */
  ifMatch?: string;
  /** The version a PATCH was computed from: a write must find it unchanged. */
  readVersion?: number;
}

export interface ScimRequestContext {
  principal: Principal;
  deps: ScimDependencies;
  preconditions: Preconditions;
}

/** Another write landed between a PATCH's read and its write; the PATCH is applied again. */
export class ConcurrentModification extends ScimError {
  constructor() {
    super(409, undefined as unknown as string, 'The resource changed while this PATCH was applied; retry the request');
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function notFound(id: string) {
  return scimError(404, undefined, `Resource ${id} not found`);
}

/** The lifecycle-relevant attributes, before and after, for the audit trail. */
function auditView(identity: Identity | null) {
  if (!identity) return null;
  const view: Record<string, unknown> = { userName: identity.userName, active: identity.active, deleted: identity.deletedAt !== null };
  for (const key of MOVER_ATTRIBUTES) view[key] = identity[key];
  return view;
}

/** Prisma's field names (its @map columns are their snake_case) as a select list for raw SQL. */
function columnsOf(fields: Record<string, string>, table: string, prefix = ''): string {
  return Object.keys(fields)
    .map((field) => `${table}.${field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)}${['kind', 'status'].includes(field) ? '::text' : ''} AS "${prefix}${field}"`)
    .join(', ');
}

const IDENTITY_COLUMNS = columnsOf(Prisma.IdentityScalarFieldEnum, 'i');
const OPEN_LEAVER_COLUMNS = columnsOf(Prisma.LifecycleEventScalarFieldEnum, 'e', 'leaver.');

/**
 * The identity, locked, with its open leaver (what recordLifecycleChange would otherwise read
 * again), in one statement. The identity's lock serialises intakes for one person; the leaver's
 * status may still move under a workflow, which the transitions' conditional writes catch.
 */
async function lockIdentity(tx: Prisma.TransactionClient, id: string): Promise<{ identity: Identity; openLeaver: LifecycleEvent | null } | null> {
  if (!UUID.test(id)) return null;
  const [row] = await tx.$queryRawUnsafe<Record<string, unknown>[]>(
    `SELECT ${IDENTITY_COLUMNS}, ${OPEN_LEAVER_COLUMNS} FROM identity i
     LEFT JOIN LATERAL (
       SELECT * FROM lifecycle_event WHERE identity_id = i.id AND kind = 'leaver' AND status::text = ANY($2::text[])
       ORDER BY created_at DESC LIMIT 1) e ON true
     WHERE i.id = $1::uuid AND i.deleted_at IS NULL FOR UPDATE OF i`,
    id,
    [...OPEN_LEAVER],
  );
  if (!row) return null;
  const identity: Record<string, unknown> = {};
  const leaver: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (key.startsWith('leaver.')) leaver[key.slice('leaver.'.length)] = value;
    else identity[key] = value;
  }
  return { identity: identity as unknown as Identity, openLeaver: leaver.id ? (leaver as unknown as LifecycleEvent) : null };
}

async function assertUserNameFree(tx: Prisma.TransactionClient, userName: string, exceptId: string | undefined) {
  const clash = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM identity WHERE lower(user_name) = lower(${userName}) AND deleted_at IS NULL
    AND (${exceptId ?? null}::uuid IS NULL OR id <> ${exceptId ?? null}::uuid) LIMIT 1`;
  // RFC 7644 §3.3: a clash on a unique attribute is 409 with scimType "uniqueness".
  if (clash.length > 0) throw scimError(409, 'uniqueness', `userName "${userName}" is already taken`);
}

/** Checked under the row lock, so no other write can slip in between check and change. */
function checkPreconditions(preconditions: Preconditions, current: Identity) {
  if (preconditions.ifMatch && !etagMatches(preconditions.ifMatch, etagOf(current))) {
    throw scimError(412, undefined, `If-Match does not match the current version ${etagOf(current)}: read the resource again`);
  }
  if (preconditions.readVersion !== undefined && preconditions.readVersion !== current.version) throw new ConcurrentModification();
}

/** What a write did to the identity row, named for the audit trail, with anything else to record. */
export interface IdentityChange {
  row: Identity;
  action: string;
  data?: Record<string, unknown>;
}

/** Applies a change and its consequences in one transaction; returns the row after. */
async function commitChange(
  context: ScimRequestContext,
  id: string | undefined,
  change: (tx: Prisma.TransactionClient, before: Identity | null) => Promise<IdentityChange>,
): Promise<Identity> {
  const { deps, principal } = context;
  let wroteOutbox = false;
  const after = await deps.db.$transaction(async (tx) => {
    const locked = id === undefined ? null : await lockIdentity(tx, id);
    if (id !== undefined && !locked) throw notFound(id);
    const before = locked?.identity ?? null;
    if (before) checkPreconditions(context.preconditions, before);
    const now = new Date();
    const { row: updated, action, data } = await change(tx, before);
    const record: AuditEntry = {
      actor: principal.name,
      action,
      identityId: updated.id,
      data: { client: principal.name, tokenId: principal.tokenId, ...data, before: auditView(before), after: auditView(updated) },
    };
    const lifecycle = await recordLifecycleChange(
      tx,
      // A new identity has no open leaver; a locked one came with it. The change's audit row goes
      // into the event's statement when there is one.
      { identityId: updated.id, before: lifecycleStateOf(before), after: lifecycleStateOf(updated), actor: principal.name, now, openLeaver: locked?.openLeaver ?? null, withAudit: [record] },
      deps.lifecycle,
    );
    wroteOutbox = lifecycle.wroteOutbox;
    await appendAudit(tx, lifecycle.audit, now);
    return updated;
  });
  if (wroteOutbox) deps.onOutboxWritten();
  deps.onIdentityWritten?.(after);
  return after;
}

/**
 * A change of one live identity that does not arrive over SCIM (an operator's terminate-now, an HR
 * import or webhook), through the same transaction as a SCIM write: the row lock, the lifecycle
 * event with its guard, outbox row and workflow, and the audit rows. `change` sees the row locked.
 */
export function commitIdentityChange(
  deps: ScimDependencies,
  principal: Principal,
  id: string,
  change: (tx: Prisma.TransactionClient, before: Identity) => Promise<IdentityChange>,
): Promise<Identity> {
  return commitChange({ principal, deps, preconditions: {} }, id, (tx, before) => change(tx, before!));
}

async function writeUser(context: ScimRequestContext, id: string | undefined, instance: object): Promise<ScimUser> {
  // scimmy hands a parsed Schemas.User; its JSON form is the representation we store.
  const { id: _id, meta: _meta, ...resource } = JSON.parse(JSON.stringify(instance)) as ScimUser;
  const columns = columnsFromScim(resource);
  const json = resource as Prisma.InputJsonValue;
  const after = await commitChange(
    context,
    id,
    async (tx, before) => {
      // Identity providers resend unchanged resources; those keep their version (and ETag).
      if (before && canonicalJson(before.resource) === canonicalJson(resource)) return { row: before, action: 'scim.user.unchanged' };
      // The same userName as before cannot clash more than it already did: no query for it.
      if (before?.userName !== columns.userName) await assertUserNameFree(tx, columns.userName, before?.id);
      if (!before) return { row: await tx.identity.create({ data: { ...columns, resource: json } }), action: 'scim.user.created' };
      const row = await tx.identity.update({ where: { id: before.id }, data: { ...columns, resource: json, version: { increment: 1 } } });
      return { row, action: 'scim.user.replaced' };
    },
  );
  return identityToScim(after);
}

async function deleteUser(context: ScimRequestContext, id: string): Promise<void> {
  // The row stays, marked deleted: the audit trail and evidence must still name the person.
  await commitChange(context, id, async (tx, before) => ({
    row: await tx.identity.update({ where: { id: before!.id }, data: { deletedAt: new Date(), version: { increment: 1 } } }),
    action: 'scim.user.deleted',
  }));
}

async function readUser(context: ScimRequestContext, resource: InstanceType<typeof SCIMMY.Resources.User>): Promise<ScimUser> {
  // Lists never reach here: the list endpoint answers them from SQL (list-handler.ts).
  if (!resource.id) throw scimError(500, undefined, 'User lists are answered by the list endpoint');
  const identity = UUID.test(resource.id) ? await context.deps.db.identity.findFirst({ where: { id: resource.id, deletedAt: null } }) : null;
  if (!identity) throw notFound(resource.id);
  return identityToScim(identity);
}

/** The SCIM representations of live identities, for list responses. */
export async function loadUsers(db: Database, ids: string[]): Promise<(ScimUser & { id: string })[]> {
  const rows = await db.identity.findMany({ where: { id: { in: ids }, deletedAt: null } });
  return rows.map((row) => ({ ...identityToScim(row), id: row.id }));
}

function guarded<A extends unknown[], R>(handler: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R> => {
    try {
      return await handler(...args);
    } catch (error) {
      throw toScimError(error);
    }
  };
}

let declared = false;

type UserResource = InstanceType<typeof SCIMMY.Resources.User>;

/** Declares Users to scimmy once per process; per-request dependencies arrive in the context. */
export function declareUsersResource(): void {
  if (declared) return;
  declared = true;
  const ingress = guarded((resource: UserResource, instance: object, context: ScimRequestContext) =>
    writeUser(context, resource.id, instance));
  const egress = guarded((resource: UserResource, context: ScimRequestContext) => readUser(context, resource));
  const degress = guarded((resource: UserResource, context: ScimRequestContext) => deleteUser(context, resource.id!));
  // scimmy's handler types want its own schema class back; it only reads the object's attributes.
  // Its types say extend() takes a Schema class; it takes a SchemaDefinition as well (types.js).
  SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false).extend(LifecycleUserExtension as never, false))
    .ingress(ingress as unknown as Parameters<typeof SCIMMY.Resources.User.ingress>[0])
    .egress(egress as unknown as Parameters<typeof SCIMMY.Resources.User.egress>[0])
    .degress(degress);
}
