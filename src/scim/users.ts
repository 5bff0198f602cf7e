// The SCIM Users resource over PostgreSQL. Each write commits the identity change, the lifecycle
// event it causes, the outbox row that starts its workflow and the audit rows together, or none of
// them. A create, and a PATCH or PUT whose change needs nothing more read, is one statement
// conditional on the version read (decision 019); any other write is a transaction that locks the
// identity first.
import SCIMMY from 'scimmy';
import { appendAudit, type AuditEntry } from '../audit/append.js';
import { Prisma } from '../generated/prisma/client.js';
import type { Database } from '../db/client.js';
import type { Identity, LifecycleEvent } from '../generated/prisma/client.js';
import { lifecycleStateOf, MOVER_ATTRIBUTES } from '../lifecycle/detect.js';
import { appliesOnItsDateSql, OPEN_LEAVER } from '../lifecycle/plan.js';
import { lifecycleChangeAtOnce, recordLifecycleChange, type LifecycleSettings, type ScheduledPlan } from '../lifecycle/record.js';
import { recordChangeAtOnce } from '../lifecycle/transitions.js';
import { sqlOf } from '../db/sql.js';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/tokens.js';
import { isCanonicalUser } from './canonical-user.js';
import { etagMatches } from './etag.js';
import { LifecycleUserExtension } from './lifecycle-extension.js';
import { refuseSeveralPrimaries, unsetReplacedPrimaries } from './primary.js';
import { isUniqueViolation, ScimError, scimError, toScimError } from './errors.js';
import { columnsFromScim, etagOf, identityToScim, sameRepresentation, type ScimUser } from './user-mapping.js';

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
  /** What the PATCH's read found (set by the read, only when the PATCH asks for it). */
  read?: IdentityRead;
}

/** An identity with its open leaver, as one statement reads it. */
export interface IdentityRead {
  identity: Identity;
  openLeaver: LifecycleEvent | null;
  /** Whether an HR source's dated mover or rehire is still to take effect (plan.ts's appliesOnItsDate). */
  openScheduled: boolean;
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

type Query = (text: string, values: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * The identity with its open leaver (what recordLifecycleChange would otherwise read again), in
 * one statement; locked for the transaction path. The identity's lock serialises intakes for one
 * person; without it, the write is conditional on the version read. The leaver's status may still
 * move under a workflow, which the transitions' conditional writes catch.
 */
async function readIdentity(query: Query, id: string, lock: boolean): Promise<IdentityRead | null> {
  if (!UUID.test(id)) return null;
  const [row] = await query(
    `SELECT ${IDENTITY_COLUMNS}, ${OPEN_LEAVER_COLUMNS},
       EXISTS (SELECT 1 FROM lifecycle_event s WHERE s.identity_id = i.id AND s.status::text = ANY($2::text[]) AND ${appliesOnItsDateSql('s')}) AS "open.scheduled"
     FROM identity i
     LEFT JOIN LATERAL (
       SELECT * FROM lifecycle_event WHERE identity_id = i.id AND kind = 'leaver' AND status::text = ANY($2::text[])
       ORDER BY created_at DESC LIMIT 1) e ON true
     WHERE i.id = $1::uuid AND i.deleted_at IS NULL${lock ? ' FOR UPDATE OF i' : ''}`,
    [id, [...OPEN_LEAVER]],
  );
  if (!row) return null;
  const identity: Record<string, unknown> = {};
  const leaver: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (key.startsWith('leaver.')) leaver[key.slice('leaver.'.length)] = value;
    else if (key !== 'open.scheduled') identity[key] = value;
  }
  return { identity: identity as unknown as Identity, openLeaver: leaver.id ? (leaver as unknown as LifecycleEvent) : null, openScheduled: row['open.scheduled'] === true };
}

/**
 * The identity with its open leaver, unlocked, as a prepared statement: its text is fixed and
 * long (every identity column and the leaver's), so each connection parses and plans it once and
 * then only binds it (decision 058's measure; decision 060 proposed it for this read).
 */
function readLiveIdentity(db: Database, id: string): Promise<IdentityRead | null> {
  const sql = sqlOf(db);
  return readIdentity((text, values) => sql.prepared(text, values), id, false);
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
  /** A dated mover or rehire planned under the lock (record.ts's planScheduledChange): carried out instead of what the row's change means. */
  scheduled?: ScheduledPlan;
  /** The source says the person leaves (an HR leaver), which cancels a dated rehire even when the row does not change. */
  leaving?: boolean;
}

/** The audit row of one identity change. */
function changeRecord(principal: Principal, { row, action, data }: IdentityChange, before: Identity | null): AuditEntry {
  return {
    actor: principal.name,
    action,
    identityId: row.id,
    data: { client: principal.name, tokenId: principal.tokenId, ...data, before: auditView(before), after: auditView(row) },
  };
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
    const locked = id === undefined ? null : await readIdentity((text, values) => tx.$queryRawUnsafe(text, ...values), id, true);
    if (id !== undefined && !locked) throw notFound(id);
    const before = locked?.identity ?? null;
    if (before) checkPreconditions(context.preconditions, before);
    const now = new Date();
    const { row: updated, action, data, scheduled, leaving } = await change(tx, before);
    const record = changeRecord(principal, { row: updated, action, data }, before);
    const lifecycle = await recordLifecycleChange(
      tx,
      // A new identity has no open leaver; a locked one came with it. The change's audit row goes
      // into the event's statement when there is one.
      {
        identityId: updated.id,
        before: lifecycleStateOf(before),
        after: lifecycleStateOf(updated),
        actor: principal.name,
        now,
        openLeaver: locked?.openLeaver ?? null,
        hasOpenScheduled: locked?.openScheduled ?? false,
        scheduled,
        leaving,
        withAudit: [record],
      },
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

type IdentityColumns = ReturnType<typeof columnsFromScim>;

/** Prisma's field name as its @map column (snake_case). */
const columnOf = (field: string) => field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * A create, or a PATCH's write on the version it read, in one statement and no transaction
 * (recordChangeAtOnce): the identity's INSERT or conditional UPDATE, its event, outbox row and
 * audit rows. Undefined when the change needs the transaction path (an open leaver to cancel or
 * move, groups to read); ConcurrentModification when the identity moved since the PATCH's read.
 */
async function writeAtOnce(context: ScimRequestContext, read: IdentityRead | null, resource: ScimUser, columns: IdentityColumns): Promise<Identity | undefined> {
  const { deps, principal } = context;
  const before = read?.identity ?? null;
  if (before) checkPreconditions(context.preconditions, before);
  const now = new Date();
  const unchanged = before !== null && sameRepresentation(before, resource, columns.active);
  const after: Identity = unchanged
    ? before
    : before
      ? { ...before, ...columns, resource: resource as Prisma.JsonValue, version: before.version + 1, updatedAt: now }
      : { id: randomUUID(), ...columns, resource: resource as Prisma.JsonValue, version: 1, createdAt: now, updatedAt: now, deletedAt: null };
  const lifecycle = unchanged
    ? {}
    : lifecycleChangeAtOnce(
        { identityId: after.id, before: lifecycleStateOf(before), after: lifecycleStateOf(after), actor: principal.name, now, openLeaver: (read?.openLeaver ?? null) !== null, openScheduled: read?.openScheduled ?? false },
        deps.lifecycle,
      );
  if (!lifecycle) return undefined;
  const fields = Object.entries(columns);
  const identityWrite = unchanged
    ? Prisma.sql`SELECT id FROM identity WHERE id = ${after.id}::uuid AND version = ${after.version} AND deleted_at IS NULL`
    : before
      ? Prisma.sql`UPDATE identity SET ${Prisma.join(fields.map(([field, value]) => Prisma.sql`${Prisma.raw(columnOf(field))} = ${value}`))},
          resource = ${JSON.stringify(resource)}::jsonb, version = version + 1, updated_at = ${now}::timestamptz
          WHERE id = ${before.id}::uuid AND version = ${before.version} AND deleted_at IS NULL RETURNING id`
      : Prisma.sql`INSERT INTO identity (id, ${Prisma.raw(fields.map(([field]) => columnOf(field)).join(', '))}, resource, version, created_at, updated_at)
          VALUES (${after.id}::uuid, ${Prisma.join(fields.map(([, value]) => value))}, ${JSON.stringify(resource)}::jsonb, 1, ${now}::timestamptz, ${now}::timestamptz)
          RETURNING id`;
  const action = unchanged ? 'scim.user.unchanged' : before ? 'scim.user.replaced' : 'scim.user.created';
  let result;
  try {
    result = await recordChangeAtOnce(deps.db, { identityWrite, event: lifecycle.event, audit: [changeRecord(principal, { row: after, action }, before)], now }, deps.lifecycle);
  } catch (error) {
    // RFC 7644 §3.3: a clash on a unique attribute is 409 "uniqueness"; the live userName index decides.
    if (isUniqueViolation(error)) throw scimError(409, 'uniqueness', `userName "${columns.userName}" is already taken`);
    throw error;
  }
  if (!result.written) throw before ? new ConcurrentModification() : new Error('The new identity was not written');
  if (result.wroteOutbox) deps.onOutboxWritten();
  deps.onIdentityWritten?.(after);
  return after;
}

async function writeUser(context: ScimRequestContext, id: string | undefined, instance: object): Promise<ScimUser> {
  // scimmy hands a parsed Schemas.User; its JSON form is the representation we store.
  const { id: _id, meta: _meta, ...written } = JSON.parse(JSON.stringify(instance)) as ScimUser;
  return writeRepresentation(context, id, written);
}

/** Writes a User representation (no `id`, no `meta`) as scimmy's inbound coercion left it. */
async function writeRepresentation(context: ScimRequestContext, id: string | undefined, written: ScimUser): Promise<ScimUser> {
  const { read, readVersion } = context.preconditions;
  // A PATCH (it read the identity first) that made a value primary unsets the one it replaces.
  const resource = readVersion !== undefined && read ? unsetReplacedPrimaries(written, read.identity.resource as ScimUser) : written;
  refuseSeveralPrimaries(resource);
  const columns = columnsFromScim(resource);
  // A create, or a PATCH that read this identity at the version it was computed from; a PUT
  // (nothing read yet) is written on what one plain read finds, and takes the locked transaction
  // below only when another write moved the identity in between: a replace does not depend on
  // the state it replaces, so it is not re-applied as a PATCH is (RFC 7644 §3.5.1).
  const replacing = id !== undefined && readVersion === undefined && read === undefined;
  const atOnceFrom =
    id === undefined
      ? null
      : replacing
        ? ((await readLiveIdentity(context.deps.db, id)) ?? undefined)
        : read && read.identity.id === id && read.identity.version === readVersion
          ? read
          : undefined;
  if (atOnceFrom !== undefined) {
    try {
      const written = await writeAtOnce(context, atOnceFrom, resource, columns);
      if (written) return identityToScim(written);
    } catch (error) {
      if (!(replacing && error instanceof ConcurrentModification)) throw error;
    }
  }
  const json = resource as Prisma.InputJsonValue;
  const after = await commitChange(
    context,
    id,
    async (tx, before) => {
      // Identity providers resend unchanged resources; those keep their version (and ETag).
      if (before && sameRepresentation(before, resource, columns.active)) return { row: before, action: 'scim.user.unchanged' };
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
  const read = await readLiveIdentity(context.deps.db, resource.id);
  if (!read) throw notFound(resource.id);
  // A PATCH writes on what it read (writeAtOnce), when its version is the one the PATCH computed from.
  context.preconditions.read = read;
  return identityToScim(read.identity);
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

/**
 * A create (id undefined) or replace of a representation isCanonicalUser accepts: scimmy's
 * inbound coercion of it is itself, so it is written as it is, through the same write as
 * scimmy's path (docs/decisions/060-scim-writes-without-coercion.md). Answers what egress shows.
 */
export const writeCanonicalUser = guarded((context: ScimRequestContext, id: string | undefined, resource: ScimUser) => writeRepresentation(context, id, resource));

/**
 * A PATCH that only sets `active` (active-patch.ts), applied without scimmy's PatchOp when the
 * identity's representation is canonical: `{ ...shown, active }` is what PatchOp and the inbound
 * coercion would write, and it goes through the same write (preconditions, version check,
 * lifecycle event, audit rows). Undefined when the identity is not found or not canonical: the
 * caller then takes scimmy's path, which answers those itself. Otherwise what egress showed
 * before and shows after the write.
 */
export const patchActiveAtOnce = guarded(async (context: ScimRequestContext, id: string, active: boolean): Promise<{ read: ScimUser; written: ScimUser } | undefined> => {
  const read = await readLiveIdentity(context.deps.db, id);
  if (!read) return undefined;
  const shown = identityToScim(read.identity);
  const { id: _id, meta: _meta, ...representation } = shown;
  if (!isCanonicalUser(representation)) return undefined;
  // As readUser and the PATCH's read do: the write is conditional on this version.
  context.preconditions.read = read;
  context.preconditions.readVersion = read.identity.version;
  return { read: shown, written: await writeRepresentation(context, id, { ...representation, active }) };
});

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
