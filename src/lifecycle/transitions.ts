// The one module that changes the status of a lifecycle event or of one of its target actions.
// Each step writes the status, the outbox row that tells the workflow, and the audit rows that
// record it, in one transaction: the step the SCIM request or operator is in (functions taking a
// `Transaction`), or a transaction of its own (functions taking the `Database`, the workflow's
// steps). Every change is conditional on the status it expects (UPDATE ... WHERE status = ...), so
// two writers racing on one event cannot both win: the loser sees `EventStatusMoved`.
// test/lifecycle/transitions-owner.test.ts fails when any other module writes these statuses.
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { sqlOf } from '../db/sql.js';
import { appendAudit, auditInsert, auditInsertSql, type AuditEntry, type Transaction } from '../audit/append.js';
import { toJson } from '../audit/canonical.js';
import type { SystemName } from '../connectors/types.js';
import type { LifecycleEvent } from '../generated/prisma/client.js';
import {
  LIFECYCLE_WORKFLOW,
  MASS_RELEASE_WORKFLOW,
  massReleaseWorkflowId,
  workflowIdForEvent,
  type LifecycleTarget,
  type LifecycleWorkflowInput,
  type MassReleaseInput,
  type TargetActionKind,
} from '../../workflows/contract.js';
import type { DetectedChange } from './detect.js';
import { appliesOnItsDate, appliesOnItsDateSql, finalEventStatus, OPEN_LEAVER, SETTLED_TARGET, STARTABLE, type TargetOutcomeStatus } from './plan.js';
import type { LifecycleSettings } from './record.js';
import { valuesAfterChanges, writeHrValues } from '../hr/values.js';

/** The event (or target) was not in the status this step expects: another writer moved it first. */
export class EventStatusMoved extends Error {
  override readonly name = 'EventStatusMoved';
  constructor(
    readonly eventId: string,
    readonly expected: readonly string[],
    readonly found: string | null,
  ) {
    super(`Event ${eventId} is ${found ?? 'gone'}, not ${expected.join(' or ')}: another change got there first; read it again`);
  }
}

type Signal = 'approve' | 'reject' | 'cancel' | 'reschedule';

function signalRow(workflowId: string, signal: Signal, payload: Record<string, unknown>): Prisma.OutboxEntryCreateManyInput {
  return { kind: 'signal', workflowId, signal, args: toJson([payload]) as Prisma.InputJsonValue };
}

function startRow(workflowId: string, input: LifecycleWorkflowInput): Prisma.OutboxEntryCreateManyInput {
  return { kind: 'start', workflowId, workflowType: LIFECYCLE_WORKFLOW, args: toJson([input]) as Prisma.InputJsonValue };
}

/** Moves one event from one of `from` to `to`; throws EventStatusMoved when it was elsewhere. */
async function moveEvent(
  tx: Transaction,
  event: Pick<LifecycleEvent, 'id' | 'status'>,
  from: readonly string[],
  data: Prisma.LifecycleEventUpdateManyMutationInput,
): Promise<void> {
  const { count } = await tx.lifecycleEvent.updateMany({ where: { id: event.id, status: { in: [...from] as LifecycleEvent['status'][] } }, data });
  if (count !== 1) throw new EventStatusMoved(event.id, from, event.status);
}

// ---- Intake: inside the SCIM request's transaction; the caller appends the audit rows returned ----

/** A new event of one identity, as intake records it. */
export interface NewEvent {
  identityId: string;
  change: DetectedChange;
  targets: LifecycleTarget[];
  actor: string;
  now: Date;
}

/**
 * Whether an event takes access away, and so consults the mass-deprovision guard: every leaver,
 * and a mover who loses an entitlement (a group deleted or emptied by an identity provider's push
 * turns its members into such movers at once; docs/decisions/041-every-mass-action-through-the-guard.md).
 */
export function deprovisions(kind: DetectedChange['kind'], targets: readonly LifecycleTarget[]): boolean {
  return kind === 'leaver' || (kind === 'mover' && targets.some((target) => target.action === 'deactivate'));
}

/** The unthrottled systems `targets` act on, when there are two or more of them to act on together (decision 067). */
function togetherSystems(settings: LifecycleSettings, targets: readonly { system: SystemName }[]): SystemName[] | undefined {
  const together = settings.unthrottledSystems?.filter((system) => targets.some((target) => target.system === system)) ?? [];
  return together.length >= 2 ? together : undefined;
}

/**
 * The event, its targets and the outbox row that starts its workflow, as CTEs (`event`, `targets`,
 * `started`) that write once per row of `source`: one statement, one round trip, with whatever
 * else the caller's statement writes. An event with nothing to do downstream is complete as soon as
 * it is recorded, and starts no workflow.
 */
function eventWrites(input: NewEvent, settings: LifecycleSettings, source: Prisma.Sql): { eventId: string; ctes: Prisma.Sql; detected: AuditEntry; startsWorkflow: boolean } {
  const eventId = randomUUID();
  const workflowId = workflowIdForEvent(eventId);
  const { targets, change } = input;
  // A dated mover or rehire writes the person's values on its date: it needs its workflow even
  // when no system is to be acted on.
  const done = targets.length === 0 && !appliesOnItsDate({ kind: change.kind, effectiveAt: change.effectiveAt ?? input.now, createdAt: input.now });
  const start = done
    ? null
    : startRow(workflowId, {
        eventId,
        kind: change.kind,
        targets,
        queuePrefix: settings.queuePrefix,
        retryDeadlineMs: settings.retryDeadlineMs,
        retryInitialIntervalMs: settings.retryInitialIntervalMs,
        retryMaximumIntervalMs: settings.retryMaximumIntervalMs,
        effectiveAt: change.effectiveAt?.toISOString(),
        immediateSystems: change.effectiveAt && change.kind === 'leaver' ? settings.disableNowSystems?.filter((system) => targets.some((target) => target.system === system)) : undefined,
        guard: (settings.guard ?? false) && deprovisions(change.kind, targets),
        unthrottledSystems: togetherSystems(settings, targets),
      });
  const detected: AuditEntry = {
    actor: input.actor,
    action: `lifecycle.${change.kind}.detected`,
    identityId: input.identityId,
    eventId,
    data: { changes: change.changes, targets, workflowId, effectiveAt: (change.effectiveAt ?? input.now).toISOString() },
  };
  const ctes = Prisma.sql`
    event AS (
      INSERT INTO lifecycle_event (id, identity_id, kind, status, completed_at, actor, effective_at, workflow_id, changes, created_at, updated_at)
      SELECT ${eventId}::uuid, ${input.identityId}::uuid, ${change.kind}::lifecycle_kind, ${done ? 'completed' : 'pending'}::event_status,
             ${done ? input.now : null}::timestamptz, ${input.actor}, ${change.effectiveAt ?? input.now}::timestamptz, ${workflowId},
             ${JSON.stringify(toJson(change.changes))}::jsonb, ${input.now}::timestamptz, ${input.now}::timestamptz
      FROM ${source}
      RETURNING id),
    targets AS (
      INSERT INTO target_action (id, event_id, system, action, created_at, updated_at)
      SELECT gen_random_uuid(), event.id, t.system, t.action::action_kind, ${input.now}::timestamptz, ${input.now}::timestamptz
      FROM event, unnest(${targets.map((target) => target.system)}::text[], ${targets.map((target) => target.action)}::text[]) AS t(system, action)),
    started AS (
      INSERT INTO outbox (kind, workflow_id, workflow_type, args)
      SELECT 'start', ${workflowId}, ${LIFECYCLE_WORKFLOW}, ${start ? JSON.stringify(start.args) : null}::jsonb FROM event WHERE ${!done})`;
  return { eventId, ctes, detected, startsWorkflow: !done };
}

/**
 * A new event with one target action per downstream system and the outbox row that starts its
 * workflow, in the caller's transaction and one statement. Its audit row is returned for the
 * caller to append, unless the caller hands in `withAudit`: then those rows and the event's own
 * are written in the event's statement, and none is returned.
 */
export async function recordEvent(
  tx: Transaction,
  input: NewEvent & { withAudit?: AuditEntry[] },
  settings: LifecycleSettings,
): Promise<{ eventId: string; audit: AuditEntry[] }> {
  const { eventId, ctes, detected } = eventWrites(input, settings, Prisma.sql`(SELECT 1) AS always`);
  const written = input.withAudit ? [...input.withAudit, detected] : [];
  await tx.$executeRaw`WITH ${ctes}, audit AS (${written.length > 0 ? auditInsert(written, input.now) : Prisma.sql`SELECT 1`}) SELECT 1`;
  return { eventId, audit: input.withAudit ? [] : [detected] };
}

/**
 * A change of one identity and all it means, in one statement and no transaction (the SCIM PATCH's
 * and create's write, decision 019): `identityWrite` is the identity's INSERT, or its UPDATE
 * conditional on the version the change was computed from, or a SELECT that finds that version
 * unchanged, each RETURNING the id. The event (when there is one), its targets, its start row and
 * the audit rows are written only if it returned a row: one statement is one transaction, so they
 * commit together or not at all. `written` false means the identity moved since it was read.
 */
export async function recordChangeAtOnce(
  db: Database,
  input: { identityWrite: Prisma.Sql; event?: NewEvent; audit: AuditEntry[]; now: Date },
  settings: LifecycleSettings,
): Promise<{ written: boolean; wroteOutbox: boolean }> {
  const event = input.event ? eventWrites(input.event, settings, Prisma.sql`changed`) : undefined;
  const audit = [...input.audit, ...(event ? [event.detected] : [])];
  const statement = Prisma.sql`
    WITH changed AS (${input.identityWrite}),
    ${event ? Prisma.sql`${event.ctes},` : Prisma.empty}
    audit AS (${auditInsert(audit, input.now, Prisma.sql`EXISTS (SELECT 1 FROM changed)`)})
    SELECT EXISTS (SELECT 1 FROM changed) AS written`;
  // Through pg rather than Prisma (a quarter of the CPU per statement, decision 019); Prisma.Sql
  // numbers its placeholders $1... for PostgreSQL.
  const [row] = await sqlOf(db).query<{ written: boolean }>(statement.text, statement.values);
  const written = row?.written === true;
  return { written, wroteOutbox: written && (event?.startsWorkflow ?? false) };
}

/** The one way an event is cancelled: its targets not yet acted on, then the event itself. */
async function cancelLocked(
  tx: Transaction,
  event: Pick<LifecycleEvent, 'id' | 'status' | 'kind' | 'identityId'>,
  from: readonly string[],
  by: string,
  reason: string,
  now: Date,
): Promise<AuditEntry> {
  await moveEvent(tx, event, from, { status: 'cancelled', completedAt: now });
  await tx.targetAction.updateMany({ where: { eventId: event.id, status: 'pending' }, data: { status: 'cancelled' } });
  return { actor: by, action: `lifecycle.${event.kind}.cancelled`, identityId: event.identityId, eventId: event.id, data: { reason } };
}

/**
 * A held or dated event that never started (decision 023) is cancelled: its start row goes out after all, and
 * the workflow finds the event cancelled and reports every target cancelled without acting.
 */
async function unholdStart(tx: Transaction, workflowId: string): Promise<void> {
  // 'mass': released to the mass-release lane, not yet begun by its page (decision 048): the page
  // passes over it from now on, and its own workflow reports it cancelled.
  await tx.$executeRaw`UPDATE outbox SET signal = NULL WHERE workflow_id = ${workflowId} AND kind = 'start' AND dispatched_at IS NULL AND signal IN ('held', 'waiting', 'mass')`;
}

/**
 * An open event that will not happen: a leaver a rehire or a withdrawn date made moot, or a dated
 * mover or rehire that a leaver or a later change superseded (plan.ts). The database decides (the
 * workflow checks it before acting); the signal wakes a waiting workflow.
 */
export async function cancelOpenEvent(tx: Transaction, event: LifecycleEvent, input: { by: string; reason: string; now: Date }): Promise<AuditEntry[]> {
  await tx.$queryRaw`SELECT id FROM lifecycle_event WHERE id = ${event.id}::uuid FOR UPDATE`;
  const audit = await cancelLocked(tx, event, OPEN_LEAVER, input.by, input.reason, input.now);
  await unholdStart(tx, event.workflowId);
  await tx.outboxEntry.create({ data: signalRow(event.workflowId, 'cancel', { by: input.by, reason: input.reason }) });
  return [audit];
}

/** A new date for an open event: a leaver's, or the same dated mover or rehire sent again with another date. */
export async function rescheduleEvent(
  tx: Transaction,
  event: LifecycleEvent,
  input: { by: string; effectiveAt: string; changes: unknown },
): Promise<AuditEntry[]> {
  await tx.outboxEntry.create({ data: signalRow(event.workflowId, 'reschedule', { by: input.by, effectiveAt: input.effectiveAt }) });
  await tx.lifecycleEvent.update({ where: { id: event.id }, data: { effectiveAt: new Date(input.effectiveAt) } });
  return [{ actor: input.by, action: `lifecycle.${event.kind}.rescheduled`, identityId: event.identityId, eventId: event.id, data: { changes: input.changes, effectiveAt: input.effectiveAt } }];
}

// ---- Operator steps: inside the operator's transaction, with the event rows locked ----

/** JML_MASS_RELEASE_THRESHOLD: an approval releasing more events than this goes to the mass lane (0: never). */
export interface MassReleaseOption {
  threshold: number;
  /** The workflow's page size and pages per run (its defaults: 50 and 10); tests and benchmarks set them. */
  paging?: { pageSize: number; pagesPerRun: number };
}

/**
 * Releases held leavers: held to pending in the same transaction as the approve signal, so a
 * second approve or a late reject is refused rather than racing the first signal to the workflow.
 * An approval of more than `mass.threshold` events writes one start row for a mass-release
 * workflow instead, and marks the events' start rows 'mass' (decision 048); answers its workflow id.
 */
export async function approveHeld(
  tx: Transaction,
  events: LifecycleEvent[],
  by: string,
  now: Date,
  mass?: MassReleaseOption,
): Promise<{ massReleaseWorkflowId: string | null }> {
  if (events.length === 0) return { massReleaseWorkflowId: null };
  const ids = events.map((event) => event.id);
  const { count } = await tx.lifecycleEvent.updateMany({ where: { id: { in: ids }, status: 'held' }, data: { status: 'pending' } });
  if (count !== events.length) {
    const moved = await tx.lifecycleEvent.findFirst({ where: { id: { in: ids }, status: { not: 'pending' } } });
    throw new EventStatusMoved(moved?.id ?? ids[0]!, ['held'], moved?.status ?? null);
  }
  // Held by the relay before its workflow started (decision 023): the start row itself is released,
  // marked as an approval so that it waits its turn in the paced release (decision 014), and the
  // workflow starts past the guard. A workflow already waiting (held before that change) is signalled.
  // A mass release marks the rows 'mass' with the release's id instead: the relay passes over them
  // and the mass-release workflow pages through them (decision 048).
  const releaseId = mass && mass.threshold > 0 && events.length > mass.threshold ? randomUUID() : null;
  const releasedRows = await tx.$queryRaw<{ workflow_id: string; input: LifecycleWorkflowInput }[]>`
      UPDATE outbox SET signal = ${releaseId === null ? 'approve' : 'mass'},
        args = CASE WHEN ${releaseId}::text IS NULL THEN jsonb_set(args, '{0,guard}', 'false'::jsonb)
                    ELSE jsonb_set(jsonb_set(args, '{0,guard}', 'false'::jsonb), '{0,massRelease}', to_jsonb(${releaseId}::text)) END
      WHERE kind = 'start' AND dispatched_at IS NULL AND signal = 'held' AND workflow_id = ANY(${events.map((event) => event.workflowId)}::text[])
      RETURNING workflow_id, args->0 AS input`;
  const released = new Set(releasedRows.map((row) => row.workflow_id));
  let massWorkflowId: string | null = null;
  const [first] = releasedRows;
  if (releaseId !== null && first) {
    massWorkflowId = massReleaseWorkflowId(releaseId);
    // The events' own settings (queues, retry budget), as their per-leaver workflows would have had them.
    const input: MassReleaseInput = {
      releaseId,
      queuePrefix: first.input.queuePrefix,
      retryDeadlineMs: first.input.retryDeadlineMs,
      retryInitialIntervalMs: first.input.retryInitialIntervalMs,
      retryMaximumIntervalMs: first.input.retryMaximumIntervalMs,
      ...mass?.paging,
    };
    await tx.outboxEntry.create({ data: { kind: 'start', workflowId: massWorkflowId, workflowType: MASS_RELEASE_WORKFLOW, args: toJson([input]) as Prisma.InputJsonValue } });
  }
  const waiting = events.filter((event) => !released.has(event.workflowId));
  if (waiting.length > 0) await tx.outboxEntry.createMany({ data: waiting.map((event) => signalRow(event.workflowId, 'approve', { by })) });
  await appendAudit(
    tx,
    events.flatMap((event): AuditEntry[] => [
      {
        actor: by,
        action: 'operator.approve',
        identityId: event.identityId,
        eventId: event.id,
        // Under the two-person rule the release names both operators, the first one first.
        data: event.firstApprovedBy ? { workflowId: event.workflowId, approvedBy: [event.firstApprovedBy, by] } : { workflowId: event.workflowId },
      },
      // What a waiting workflow records when the approval reaches it (recordApproval), here at once.
      ...(released.has(event.workflowId) ? [{ actor: by, action: `lifecycle.${event.kind}.approved`, identityId: event.identityId, eventId: event.id, data: { workflowId: event.workflowId } }] : []),
    ]).concat(massWorkflowId === null ? [] : [{ actor: by, action: 'operator.mass_release', data: { workflowId: massWorkflowId, releaseId, events: released.size } }]),
    now,
  );
  return { massReleaseWorkflowId: massWorkflowId };
}

/** An event parked before its workflow started, as parkUnstarted moved it. */
interface ParkedEvent {
  id: string;
  identity_id: string;
  kind: string;
  workflow_id: string;
  effective_at: Date;
}

/**
 * Parks events whose workflow has not started (the relay's step, decision 023), in the relay's
 * transaction: pending to `status`, with one audit row each; their start rows stay in the outbox
 * marked with the same word, which the relay passes over. Events that moved meanwhile (a rehire
 * cancelled one) are left as they are; answers the ids parked.
 */
async function parkUnstarted(
  tx: Transaction,
  eventIds: string[],
  park: {
    status: 'held' | 'waiting';
    /** The guard was asked: the start row's input says so, and the workflow does not ask again. */
    guardAsked: boolean;
    /** The audit row's action and what it adds to `{ workflowId, from: 'pending' }`. */
    audit: (event: ParkedEvent) => { action: string; data: Record<string, unknown> };
  },
  now: Date,
): Promise<string[]> {
  if (eventIds.length === 0) return [];
  const parked = await tx.$queryRaw<ParkedEvent[]>`
    WITH parked AS (
      UPDATE lifecycle_event SET status = ${park.status}::text::event_status, updated_at = ${now}
      WHERE id = ANY(${eventIds}::uuid[]) AND status = 'pending'
      RETURNING id::text, identity_id::text, kind::text, workflow_id, effective_at),
    marked AS (
      UPDATE outbox o SET signal = ${park.status},
        args = CASE WHEN ${park.guardAsked} THEN jsonb_set(o.args, '{0,guard}', 'false'::jsonb) ELSE o.args END
      FROM parked
      WHERE o.workflow_id = parked.workflow_id AND o.kind = 'start' AND o.dispatched_at IS NULL)
    SELECT * FROM parked`;
  await appendAudit(
    tx,
    parked.map((event) => {
      const { action, data } = park.audit(event);
      return { actor: 'system', action, identityId: event.identity_id, eventId: event.id, data: { workflowId: event.workflow_id, from: 'pending', ...data } };
    }),
    now,
  );
  return parked.map((event) => event.id);
}

/**
 * Events whose date is still ahead wait without a workflow (decision 023): pending to waiting with
 * the `workflow.waiting` row the workflow used to write; the relay starts them when their event's
 * effective date, as it is then, has come. Answers the ids moved.
 */
export async function deferUnstarted(tx: Transaction, eventIds: string[], now: Date): Promise<string[]> {
  return parkUnstarted(tx, eventIds, { status: 'waiting', guardAsked: true, audit: (event) => ({ action: 'workflow.waiting', data: { until: event.effective_at.toISOString() } }) }, now);
}

/**
 * The guard holds events whose workflow has not started (the relay's check, decision 023): pending
 * to held with `lifecycle.<kind>.held` and the guard's verdict. The start row stays marked 'held'
 * until an approval (approveHeld) or a cancellation (unholdStart) changes the mark.
 */
export async function holdUnstarted(tx: Transaction, eventIds: string[], verdict: Record<string, unknown>, now: Date): Promise<string[]> {
  return parkUnstarted(tx, eventIds, { status: 'held', guardAsked: false, audit: (event) => ({ action: `lifecycle.${event.kind}.held`, data: verdict }) }, now);
}

/**
 * The first of two approvals (JML_APPROVALS_REQUIRED=2): recorded and audited, and the leaver stays
 * held until a different operator approves it (docs/decisions/038-two-person-release.md).
 */
export async function recordFirstApproval(tx: Transaction, events: LifecycleEvent[], by: string, required: number, now: Date): Promise<void> {
  if (events.length === 0) return;
  const ids = events.map((event) => event.id);
  const { count } = await tx.lifecycleEvent.updateMany({
    where: { id: { in: ids }, status: 'held', firstApprovedBy: null },
    data: { firstApprovedBy: by, firstApprovedAt: now },
  });
  if (count !== events.length) {
    const moved = await tx.lifecycleEvent.findFirst({ where: { id: { in: ids }, OR: [{ status: { not: 'held' } }, { firstApprovedBy: { not: null } }] } });
    throw new EventStatusMoved(moved?.id ?? ids[0]!, ['held'], moved?.status ?? null);
  }
  await appendAudit(
    tx,
    events.map((event) => ({ actor: by, action: 'operator.approval.recorded', identityId: event.identityId, eventId: event.id, data: { workflowId: event.workflowId, approvals: 1, required } })),
    now,
  );
}

/** Refuses a held leaver: nothing is sent downstream; the signal ends the waiting workflow. */
export async function rejectHeld(tx: Transaction, event: LifecycleEvent, by: string, reason: string | undefined, now: Date): Promise<void> {
  await tx.outboxEntry.create({ data: signalRow(event.workflowId, 'reject', reason ? { by, reason } : { by }) });
  const cancelled = await cancelLocked(tx, event, ['held'], by, `rejected by ${by}${reason ? `: ${reason}` : ''}`, now);
  await unholdStart(tx, event.workflowId);
  await appendAudit(tx, [
    { actor: by, identityId: event.identityId, eventId: event.id, action: 'operator.reject', data: { workflowId: event.workflowId, reason: reason ?? null } },
    cancelled,
  ], now);
}

/** Runs targets that need attention again, in a new workflow run (operations.ts's retryEvent). */
export async function retryTargets(
  tx: Transaction,
  event: LifecycleEvent,
  input: { by: string; targetIds: string[]; workflowId: string; workflowInput: LifecycleWorkflowInput; now: Date },
): Promise<void> {
  // A not-found that needs attention runs again too: the operator has fixed the lookup setting.
  const { count } = await tx.targetAction.updateMany({
    where: { id: { in: input.targetIds }, OR: [{ status: 'needs_attention' }, { status: 'not_found', lastError: { not: null } }] },
    data: { status: 'pending', lastError: null },
  });
  if (count !== input.targetIds.length) throw new EventStatusMoved(event.id, ['needs_attention'], event.status);
  await moveEvent(tx, event, ['needs_attention'], { status: 'pending', completedAt: null });
  await tx.outboxEntry.create({ data: startRow(input.workflowId, input.workflowInput) });
  const { targets, generation } = input.workflowInput;
  await appendAudit(tx, [{ actor: input.by, action: 'operator.retry', identityId: event.identityId, eventId: event.id, data: { workflowId: input.workflowId, generation, targets } }], input.now);
}

// ---- Workflow steps: each its own transaction. Local activities run again when their worker dies
// before the workflow task completes, so each step leaves the same records however often it runs.

/**
 * A dated mover or rehire taking effect (decision 026): the person's values it carries are written
 * to the identity, under the identity's lock, in the transaction that starts the event. Answers
 * the audit row, or why the change is moot now (the event is then cancelled): a mover's person
 * who has left or is leaving by now, or a person deleted meanwhile.
 */
async function takeEffect(tx: Transaction, event: LifecycleEvent, now: Date): Promise<AuditEntry | string> {
  const identity = await tx.identity.findUniqueOrThrow({ where: { id: event.identityId } });
  if (identity.deletedAt) return `the person was deleted before the ${event.kind} took effect`;
  // A termination date that came since the mover was recorded; an older one was there before it.
  const terminated = identity.terminationDate !== null && identity.terminationDate > event.createdAt && identity.terminationDate <= now;
  if (event.kind === 'mover' && (!identity.active || terminated)) return 'the person left before the mover took effect';
  const values = valuesAfterChanges(event.changes as Record<string, { to: unknown }>);
  const { changed } = await writeHrValues(tx, identity, values);
  const written = Object.fromEntries(changed.map((attribute) => [attribute, { from: toJson(identity[attribute]), to: toJson(values[attribute]) }]));
  return { actor: 'system', action: `lifecycle.${event.kind}.effective`, identityId: event.identityId, eventId: event.id, data: { workflowId: event.workflowId, changes: written } };
}

/**
 * Moves the event to running, unless it was cancelled meanwhile (a rehire cancels an open leaver
 * directly): then the workflow must not act, and this returns false. A dated mover or rehire
 * writes its values to the person here, or is cancelled when they are moot (takeEffect).
 */
export async function beginEvent(db: Database, eventId: string, now: Date): Promise<boolean> {
  return db.$transaction(async (tx) => {
    const dated = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId }, select: { identityId: true, kind: true, effectiveAt: true, createdAt: true } });
    // The identity before the event, in the order intake locks them (a leaver cancelling this event).
    if (appliesOnItsDate(dated)) await tx.$queryRaw`SELECT id FROM identity WHERE id = ${dated.identityId}::uuid FOR UPDATE`;
    await tx.$queryRaw`SELECT id FROM lifecycle_event WHERE id = ${eventId}::uuid FOR UPDATE`;
    const event = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } });
    if (event.status === 'cancelled') return false;
    if (!(STARTABLE as readonly string[]).includes(event.status)) return true;
    const effect = appliesOnItsDate(event) ? await takeEffect(tx, event, now) : null;
    if (typeof effect === 'string') {
      await appendAudit(tx, [await cancelLocked(tx, event, STARTABLE, 'system', effect, now)], now);
      return false;
    }
    await moveEvent(tx, event, STARTABLE, { status: 'running' });
    await appendAudit(tx, [{ actor: 'system', action: 'workflow.started', identityId: event.identityId, eventId, data: { workflowId: event.workflowId, from: event.status } }, ...(effect ? [effect] : [])], now);
    return true;
  });
}

export type BeginVerdict = 'begun' | 'running' | 'cancelled' | 'wait';

/**
 * beginIfFirst's statement as CTEs over the event `$1`, at `$2`, with STARTABLE as `$3`
 * (beginIfFirstValues): `event` as the statement's snapshot shows it, `earlier` (whether an
 * earlier event of the person is open), `begun` (the move to running, when none is) and `latest`.
 * The lean target action (decision 055) joins its read of the target to them, so that the first of
 * an event's target actions begins it in the statement that reads what it acts on.
 * `latest` (decision 059): when the snapshot showed the event startable and this statement did not
 * begin it, a sibling's begin or a rehire's cancellation may have committed since. A locking read
 * waits for such a writer and answers the row as it committed it (READ COMMITTED, PostgreSQL docs
 * 13.2.1), so the statement answers `running` or `cancelled` without a second read. A lock alone
 * writes no new row version, so it does not disturb a final write's check (EVENT_AFTER_WRITE).
 */
export const BEGIN_IF_FIRST = `event AS (SELECT id, status, identity_id, created_at FROM lifecycle_event WHERE id = $1::uuid),
     earlier AS (
       SELECT EXISTS (
         SELECT 1 FROM lifecycle_event other, event
         WHERE other.identity_id = event.identity_id AND other.status IN ('pending', 'running')
           AND (other.created_at < event.created_at OR (other.created_at = event.created_at AND other.id < event.id))) AS open),
     begun AS (
       UPDATE lifecycle_event e SET status = 'running', updated_at = $2 FROM event, earlier
       WHERE e.id = event.id AND e.status::text = ANY($3::text[]) AND NOT earlier.open
       RETURNING e.id),
     latest AS (
       SELECT l.status FROM lifecycle_event l, event
       WHERE l.id = event.id AND event.status::text = ANY($3::text[]) AND NOT EXISTS (SELECT 1 FROM begun)
       FOR NO KEY UPDATE OF l)`;

/** The event's status as BEGIN_IF_FIRST answers it: the latest committed when it was locked, else the snapshot's. */
export const BEGIN_IF_FIRST_STATUS = `coalesce((SELECT latest.status FROM latest), event.status)::text`;

export function beginIfFirstValues(eventId: string, now: Date): [string, Date, string[]] {
  return [eventId, now, [...STARTABLE]];
}

/**
 * The lean path's start (patch 'lean-lifecycle'): whether an earlier event of the same person is
 * still about to act or acting, and if none is, the move to running, in one statement and no
 * transaction of its own. It writes no audit row: "running" is jml's own progress marker, not a
 * decision or an effect, and the event's first outcome row follows within the second
 * (decision 018). 'wait' leaves the event as it was: the workflow waits for the earlier events,
 * then calls beginEvent.
 */
export async function beginIfFirst(db: Database, eventId: string, now: Date): Promise<BeginVerdict> {
  const [row] = await sqlOf(db).prepared<{ status: string; begun: boolean }>(
    `WITH ${BEGIN_IF_FIRST} SELECT ${BEGIN_IF_FIRST_STATUS} AS status, EXISTS (SELECT 1 FROM begun) AS begun FROM event`,
    beginIfFirstValues(eventId, now),
  );
  if (!row) throw new EventStatusMoved(eventId, STARTABLE, null);
  return beginVerdict(row);
}

/**
 * What BEGIN_IF_FIRST's statement found: `status` as BEGIN_IF_FIRST_STATUS answers it, and whether
 * it began the event. Still startable: an earlier event of the person is open (or was, in the
 * statement's snapshot), and the workflow waits for it and asks again through beginEvent.
 */
export function beginVerdict(row: { status: string; begun: boolean }): BeginVerdict {
  if (row.begun) return 'begun';
  if (row.status === 'cancelled') return 'cancelled';
  return (STARTABLE as readonly string[]).includes(row.status) ? 'wait' : 'running';
}

/** Waiting for the date (from running too: the systems disabled at once are done), or held by the guard. */
async function park(
  db: Database,
  eventId: string,
  to: 'waiting' | 'held',
  action: (kind: string) => string,
  data: Record<string, unknown>,
  alsoFrom: readonly string[],
  now: Date,
) {
  await db.$transaction(async (tx) => {
    const event = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } });
    const from = [...STARTABLE, ...alsoFrom];
    if (!from.includes(event.status) || event.status === to) return;
    await moveEvent(tx, event, from, { status: to });
    await appendAudit(tx, [{ actor: 'system', action: action(event.kind), identityId: event.identityId, eventId, data: { workflowId: event.workflowId, from: event.status, ...data } }], now);
  });
}

export function markEventWaiting(db: Database, eventId: string, until: string, now: Date): Promise<void> {
  return park(db, eventId, 'waiting', () => 'workflow.waiting', { until }, ['running'], now);
}

/** A leaver, or a mover losing an entitlement, in a burst: `lifecycle.<kind>.held` with the guard's verdict. */
export function holdEvent(db: Database, eventId: string, verdict: Record<string, unknown>, now: Date): Promise<void> {
  return park(db, eventId, 'held', (kind) => `lifecycle.${kind}.held`, verdict, [], now);
}

/** The workflow's own cancellation (a cancel or reject signal); a no-op when already cancelled. */
export async function cancelEvent(db: Database, input: { eventId: string; by: string; reason: string }, now: Date): Promise<void> {
  await db.$transaction(async (tx) => {
    const event = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: input.eventId } });
    if (event.status === 'cancelled') return;
    const audit = await cancelLocked(tx, event, [event.status], input.by, input.reason, now);
    await appendAudit(tx, [audit], now);
  });
}

/** An event a mass-release page acts on: running, its start row dispatched to the lane. */
export interface MassPageEvent {
  eventId: string;
  targets: LifecycleTarget[];
  generation: number;
}

/**
 * The next page of a mass release (decision 048), in event id order after `afterEventId`, in one
 * statement: each event still pending, due, with no earlier event of the person in the way and no
 * system to act on before its date moves to running (conditional on pending, so a rehire that
 * cancelled it first wins) and its start row is marked dispatched. One that is pending but not
 * so simple (dated ahead, a dated mover or rehire whose values beginEvent writes, or behind an earlier event) is handed back to the per-leaver path: its
 * row becomes an ordinary approval the relay releases (decision 014). Events begun by an earlier
 * attempt of this step (running, row dispatched) are answered again, so the step can be retried.
 * `lastEventId` is the last event paged through (null: nothing left). A second statement gives each
 * event begun its `workflow.started` row naming the mass-release workflow and `page`.
 */
export async function beginMassPage(
  db: Database,
  input: { releaseId: string; afterEventId?: string; limit: number; page?: number },
  now: Date,
): Promise<{ lastEventId: string | null; events: MassPageEvent[]; handedBack: number }> {
  const rows = await sqlOf(db).query<{ id: string; identityId: string; status: string; input: LifecycleWorkflowInput; begun: boolean; lane: boolean }>(
    `WITH page AS (
       SELECT o.id AS outbox_id, o.dispatched_at, e.id, e.identity_id, e.kind, e.created_at, e.status::text AS status, e.effective_at, o.args->0 AS input
       FROM outbox o JOIN lifecycle_event e ON e.workflow_id = o.workflow_id
       WHERE o.kind = 'start' AND o.signal = 'mass' AND o.args->0->>'massRelease' = $1 AND ($2::uuid IS NULL OR e.id > $2::uuid)
       ORDER BY e.id LIMIT $3),
     verdict AS (
       SELECT page.*, (page.status = 'pending' AND page.effective_at <= $4::timestamptz
         AND coalesce(jsonb_array_length(page.input->'immediateSystems'), 0) = 0 AND NOT ${appliesOnItsDateSql('page')}
         AND NOT EXISTS (
           SELECT 1 FROM lifecycle_event other
           WHERE other.identity_id = page.identity_id AND other.status IN ('pending', 'running')
             AND (other.created_at < page.created_at OR (other.created_at = page.created_at AND other.id < page.id)))) AS lane
       FROM page),
     begun AS (
       UPDATE lifecycle_event e SET status = 'running', updated_at = $4::timestamptz FROM verdict
       WHERE e.id = verdict.id AND verdict.lane AND e.status = 'pending'
       RETURNING e.id),
     dispatched AS (
       UPDATE outbox o SET dispatched_at = $4::timestamptz FROM verdict, begun
       WHERE o.id = verdict.outbox_id AND verdict.id = begun.id),
     handed AS (
       UPDATE outbox o SET signal = 'approve' FROM verdict
       WHERE o.id = verdict.outbox_id AND verdict.status = 'pending' AND NOT verdict.lane AND o.dispatched_at IS NULL)
     SELECT verdict.id::text AS id, verdict.identity_id::text AS "identityId", verdict.status, verdict.input, verdict.lane,
            (EXISTS (SELECT 1 FROM begun WHERE begun.id = verdict.id) OR (verdict.status = 'running' AND verdict.dispatched_at IS NOT NULL)) AS begun
     FROM verdict ORDER BY verdict.id`,
    [input.releaseId, input.afterEventId ?? null, input.limit, now],
  );
  const begun = rows.filter((row) => row.begun);
  // The event has no workflow of its own: its record names the one that acts on it, and the page
  // (evidence shows it). Written once per event, also when this step runs again.
  if (begun.length > 0) {
    const workflowId = massReleaseWorkflowId(input.releaseId);
    const record = auditInsertSql(
      begun.map((row) => ({ actor: 'system', action: 'workflow.started', identityId: row.identityId, eventId: row.id, data: { workflowId, page: input.page ?? null, from: 'pending' } })),
      now,
      1,
      `NOT EXISTS (SELECT 1 FROM audit_event a WHERE a.event_id = entry.event_id AND a.action = 'workflow.started')`,
    );
    await sqlOf(db).query(record.text, record.values);
  }
  return {
    lastEventId: rows.at(-1)?.id ?? null,
    events: begun.map((row) => ({ eventId: row.id, targets: row.input.targets, generation: row.input.generation ?? 0 })),
    handedBack: rows.filter((row) => row.status === 'pending' && !row.lane).length,
  };
}

export interface TargetKey {
  eventId: string;
  system: SystemName;
  action: TargetActionKind;
}

function targetKey({ eventId, system, action }: TargetKey) {
  return { eventId_system_action: { eventId, system, action } };
}

/** One target's write: its new status (null: kept), the account, its audit row, and the status it must be in. */
interface TargetWrite {
  target: TargetKey & { identityId: string };
  change: { status: string | null; accountId: string | null; newLink: boolean; confirmedAt: Date | null; lastError: string | null };
  audit: AuditEntry;
  expected: 'pending' | 'succeeded';
}

/**
 * Writes each target's row, the account link when the account was looked up on this attempt
 * (`newLink`), and the audit row, in one statement for all of them: one round trip, and one
 * statement is one transaction, so each target's three rows commit together or not at all. A
 * target that is no longer in its expected status was settled by another run of its activity, or
 * cancelled: nothing is written for it, and its answer is false. A mass-release page writes its
 * accounts' outcomes together this way (decision 048); one target is a list of one.
 */
async function writeTargets(db: Database, writes: TargetWrite[], now: Date): Promise<boolean[]> {
  const { ctes, values } = targetWrites(writes, now);
  const rows = await sqlOf(db).prepared<{ eventId: string; system: string }>(`WITH ${ctes} SELECT event_id::text AS "eventId", system FROM moved`, values);
  const moved = new Set(rows.map((row) => `${row.eventId} ${row.system}`));
  return writes.map((write) => moved.has(`${write.target.eventId} ${write.target.system}`));
}

/** writeTargets' CTEs (`input`, `moved`, `link`, `audit`), with `now` as `$11`; `moved` returns each target's row as written. */
function targetWrites(writes: TargetWrite[], now: Date): { ctes: string; values: unknown[] } {
  const record = auditInsertSql(writes.map((write) => write.audit), now, 12, '(entry.event_id, entry.system) IN (SELECT event_id, system FROM moved)');
  const column = <T>(pick: (write: TargetWrite) => T) => writes.map(pick);
  return {
    ctes: `input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::uuid[], $9::boolean[], $10::text[])
         AS input(event_id, system, action, status, account_id, confirmed_at, last_error, identity_id, new_link, expected)),
     moved AS (
       UPDATE target_action t SET
         status = coalesce(input.status::action_status, t.status),
         account_id = CASE WHEN input.status IS NULL THEN t.account_id ELSE input.account_id END,
         confirmed_at = CASE WHEN input.status IS NULL THEN t.confirmed_at ELSE input.confirmed_at END,
         last_error = coalesce(input.last_error, t.last_error),
         attempts = t.attempts + 1, updated_at = $11::timestamptz
       FROM input
       WHERE t.event_id = input.event_id AND t.system = input.system AND t.action = input.action::action_kind AND t.status = input.expected::action_status
       RETURNING t.event_id, t.system, input.identity_id, input.account_id, input.new_link,
         t.id AS target_id, t.status AS target_status, t.last_error AS target_last_error),
     link AS (
       INSERT INTO account_link (identity_id, system, account_id, resolved_at)
       SELECT DISTINCT ON (identity_id, system) identity_id, system, account_id, $11::timestamptz FROM moved WHERE new_link
       ON CONFLICT (identity_id, system) DO UPDATE SET account_id = EXCLUDED.account_id, resolved_at = EXCLUDED.resolved_at),
     audit AS (${record.text})`,
    values: [
      column((write) => write.target.eventId),
      column((write) => write.target.system),
      column((write) => write.target.action),
      column((write) => write.change.status),
      column((write) => write.change.accountId),
      column((write) => write.change.confirmedAt),
      column((write) => write.change.lastError),
      column((write) => write.target.identityId),
      column((write) => write.change.newLink && write.change.accountId !== null),
      column((write) => write.expected),
      now,
      ...record.values,
    ],
  };
}

/** Writes one target (writeTargets); EventStatusMoved when it was no longer as expected, and the retry reads what happened. */
async function writeTarget(db: Database, write: TargetWrite, now: Date): Promise<void> {
  const [moved] = await writeTargets(db, [write], now);
  if (!moved) throw new EventStatusMoved(write.target.eventId, [write.expected], null);
}

/** What the downstream system answered about one target, with the account it acted on. */
export interface TargetOutcome {
  target: TargetKey & { identityId: string };
  outcome: { status: TargetOutcomeStatus; accountId?: string | null; newLink?: boolean; lastError?: string | null; data: Record<string, unknown> };
}

function settleWrite({ target, outcome }: TargetOutcome, now: Date): TargetWrite {
  return {
    target,
    change: {
      status: outcome.status,
      accountId: outcome.accountId ?? null,
      newLink: outcome.newLink ?? false,
      confirmedAt: outcome.status === 'succeeded' ? now : null,
      lastError: outcome.lastError ?? null,
    },
    audit: { actor: 'system', action: `target.${target.action}.${outcome.status}`, identityId: target.identityId, eventId: target.eventId, system: target.system, data: outcome.data },
    expected: 'pending',
  };
}

/** What the downstream system answered, with the account it acted on. */
export async function settleTarget(db: Database, target: TargetOutcome['target'], outcome: TargetOutcome['outcome'], now: Date): Promise<void> {
  await writeTarget(db, settleWrite({ target, outcome }, now), now);
}

/**
 * settleTarget for an outcome that is the target's last (decision 059): the same write, answering
 * its event as the end reads it (EVENT_AFTER_WRITE). EventStatusMoved when the target had moved.
 */
export async function settleFinalTarget(db: Database, target: TargetOutcome['target'], outcome: TargetOutcome['outcome'], now: Date): Promise<EventAfterWrite> {
  const write = settleWrite({ target, outcome }, now);
  const { ctes, values } = targetWrites([write], now);
  const after = eventAfterWrite(await sqlOf(db).prepared<EndRow & { current: boolean }>(`WITH ${ctes}, ${EVENT_AFTER_WRITE('$11')}`, values));
  if (!after) throw new EventStatusMoved(target.eventId, [write.expected], null);
  return after;
}

/**
 * Several targets' outcomes in one statement (a mass-release page's, decision 048), each written
 * exactly as settleTarget writes it; answers, per outcome, whether it was written (false: the
 * target was no longer pending).
 */
export async function settleTargets(db: Database, outcomes: TargetOutcome[], now: Date): Promise<boolean[]> {
  if (outcomes.length === 0) return [];
  return writeTargets(db, outcomes.map((entry) => settleWrite(entry, now)), now);
}

/** A read-back's verdict on one accepted target (decision 021). */
export interface ReadBackOutcome {
  target: TargetKey & { identityId: string; generation: number };
  outcome: { status: 'verified' | 'not_found' | 'read_contradicted'; lastError?: string | null; data: Record<string, unknown> };
}

/**
 * The read-back of an accepted target (decision 021): `verified` when the read showed the change,
 * `not_found` when the account was gone; a contradicting read is recorded, the status kept, and
 * this answers how many contradicting reads this generation has seen. One statement: the target's
 * row, its audit row and (for a contradicting read) the count.
 */
export async function recordReadBack(db: Database, target: ReadBackOutcome['target'], outcome: ReadBackOutcome['outcome'], now: Date): Promise<number> {
  const [count] = await recordReadBacks(db, [{ target, outcome }], now);
  return count ?? 1;
}

/**
 * Several read-backs in one statement (a mass-release page's, decision 048), each written exactly as
 * recordReadBack writes it; answers each one's count of contradicting reads, in order.
 */
export async function recordReadBacks(db: Database, readBacks: ReadBackOutcome[], now: Date): Promise<number[]> {
  if (readBacks.length === 0) return [];
  const { ctes, values } = readBackWrites(readBacks, now);
  // A data-modifying CTE's row is not visible to the statement's own reads: the count adds this one.
  const rows = await sqlOf(db).prepared<{ count: number }>(
    `WITH ${ctes}
     SELECT CASE WHEN input.outcome = 'read_contradicted' THEN 1 + (
       SELECT count(*)::int FROM audit_event a
       WHERE a.event_id = input.event_id AND a.system = input.system AND a.action = 'target.' || input.action || '.read_contradicted'
         AND (a.data->>'generation')::int = input.generation)
     ELSE 1 END AS count
     FROM input ORDER BY input.n`,
    values,
  );
  return rows.map((row) => row.count);
}

/**
 * recordReadBack for a verdict that is the target's last, `verified` or `not_found` (decision 059):
 * the same write, answering its event as the end reads it (EVENT_AFTER_WRITE); null when the
 * target was no longer accepted and nothing was written.
 */
export async function recordFinalReadBack(
  db: Database,
  target: ReadBackOutcome['target'],
  outcome: ReadBackOutcome['outcome'] & { status: 'verified' | 'not_found' },
  now: Date,
): Promise<EventAfterWrite | null> {
  const { ctes, values } = readBackWrites([{ target, outcome }], now);
  return eventAfterWrite(await sqlOf(db).prepared<EndRow & { current: boolean }>(`WITH ${ctes}, ${EVENT_AFTER_WRITE('$7')}`, values));
}

/**
 * A target the system accepted and whose read-back then verified it, recorded in one statement
 * (decision 065): what settleTarget writes for `succeeded` at `acceptedAt` (the account, its link,
 * confirmed_at and the audit row, dated when the vendor accepted) and what recordReadBack writes
 * for `verified` at `now`, one after the other in the audit. Only for a target still pending; a
 * read that fails, contradicts or finds nothing has the acceptance written first, as before.
 */
export interface VerifiedOutcome {
  target: ReadBackOutcome['target'];
  accepted: { accountId: string; newLink: boolean; data: Record<string, unknown> };
  acceptedAt: Date;
  verified: { data: Record<string, unknown> };
}

/** The CTEs (`moved`, `link`, `audit`) of a verified target's write, with `now` as `$6`; `moved` as writeTargets'. */
function verifiedWrite({ target, accepted, acceptedAt, verified }: VerifiedOutcome, now: Date): { ctes: string; values: unknown[] } {
  const about = { actor: 'system', identityId: target.identityId, eventId: target.eventId, system: target.system };
  const record = auditInsertSql(
    [
      { ...about, action: `target.${target.action}.succeeded`, data: accepted.data, occurredAt: acceptedAt },
      { ...about, action: `target.${target.action}.verified`, data: { ...verified.data, generation: target.generation } },
    ],
    now,
    9,
    'EXISTS (SELECT 1 FROM moved)',
  );
  return {
    ctes: `moved AS (
       UPDATE target_action t SET status = 'verified', account_id = $4::text, confirmed_at = $5::timestamptz, verified_at = $6::timestamptz,
         last_error = NULL, attempts = t.attempts + 1, updated_at = $6::timestamptz
       WHERE t.event_id = $1::uuid AND t.system = $2::text AND t.action = $3::action_kind AND t.status = 'pending'
       RETURNING t.event_id, t.system, t.id AS target_id, t.status AS target_status, t.last_error AS target_last_error),
     link AS (
       INSERT INTO account_link (identity_id, system, account_id, resolved_at)
       SELECT $7::uuid, $2::text, $4::text, $5::timestamptz FROM moved WHERE $8::boolean
       ON CONFLICT (identity_id, system) DO UPDATE SET account_id = EXCLUDED.account_id, resolved_at = EXCLUDED.resolved_at),
     audit AS (${record.text})`,
    values: [target.eventId, target.system, target.action, accepted.accountId, acceptedAt, now, target.identityId, accepted.newLink, ...record.values],
  };
}

/** A verified target's acceptance and read-back in one statement; EventStatusMoved when it was no longer pending. */
export async function settleVerifiedTarget(db: Database, outcome: VerifiedOutcome, now: Date): Promise<void> {
  const { ctes, values } = verifiedWrite(outcome, now);
  const [moved] = await sqlOf(db).prepared<{ eventId: string }>(`WITH ${ctes} SELECT event_id::text AS "eventId" FROM moved`, values);
  if (!moved) throw new EventStatusMoved(outcome.target.eventId, ['pending'], null);
}

/**
 * settleVerifiedTarget answering its event as the end reads it (EVENT_AFTER_WRITE, decision 059):
 * `verified` is always a target's last outcome. EventStatusMoved when it was no longer pending.
 */
export async function settleFinalVerifiedTarget(db: Database, outcome: VerifiedOutcome, now: Date): Promise<EventAfterWrite> {
  const { ctes, values } = verifiedWrite(outcome, now);
  const after = eventAfterWrite(await sqlOf(db).prepared<EndRow & { current: boolean }>(`WITH ${ctes}, ${EVENT_AFTER_WRITE('$6')}`, values));
  if (!after) throw new EventStatusMoved(outcome.target.eventId, ['pending'], null);
  return after;
}

/** recordReadBacks' CTEs (`input`, `moved`, `audit`), with `now` as `$7`; `moved` returns each target's row as written. */
function readBackWrites(readBacks: ReadBackOutcome[], now: Date): { ctes: string; values: unknown[] } {
  const record = auditInsertSql(
    readBacks.map(({ target, outcome }) => ({
      actor: 'system',
      action: `target.${target.action}.${outcome.status}`,
      identityId: target.identityId,
      eventId: target.eventId,
      system: target.system,
      data: { ...outcome.data, generation: target.generation },
    })),
    now,
    8,
  );
  return {
    ctes: `input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) WITH ORDINALITY
         AS input(event_id, system, action, outcome, last_error, generation, n)),
     moved AS (
       UPDATE target_action t SET
         status = CASE input.outcome WHEN 'verified' THEN 'verified'::action_status WHEN 'not_found' THEN 'not_found'::action_status ELSE t.status END,
         verified_at = CASE WHEN input.outcome = 'verified' THEN $7::timestamptz ELSE t.verified_at END,
         confirmed_at = CASE WHEN input.outcome = 'not_found' THEN NULL ELSE t.confirmed_at END,
         last_error = CASE input.outcome WHEN 'verified' THEN NULL WHEN 'not_found' THEN input.last_error ELSE t.last_error END,
         attempts = t.attempts + CASE WHEN input.outcome = 'read_contradicted' THEN 1 ELSE 0 END,
         updated_at = $7::timestamptz
       FROM input
       WHERE t.event_id = input.event_id AND t.system = input.system AND t.action = input.action::action_kind AND t.status = 'succeeded'
       RETURNING t.event_id, t.id AS target_id, t.status AS target_status, t.last_error AS target_last_error),
     audit AS (${record.text})`,
    values: [
      readBacks.map(({ target }) => target.eventId),
      readBacks.map(({ target }) => target.system),
      readBacks.map(({ target }) => target.action),
      readBacks.map(({ outcome }) => outcome.status),
      readBacks.map(({ outcome }) => outcome.lastError ?? null),
      readBacks.map(({ target }) => target.generation),
      now,
      ...record.values,
    ],
  };
}

/**
 * A failed attempt: counted and recorded; the status stays until the retries run out. `readBack`:
 * the system had accepted the change and the failed call was the read that verifies it, so the
 * target is `succeeded` (accepted, not verified) and stays so; the retry reads again, never writes.
 */
export async function recordFailedAttempt(
  db: Database,
  target: TargetKey & { identityId: string },
  input: { lastError: string; accountId?: string | null; newLink?: boolean; readBack?: boolean; data: Record<string, unknown> },
  now: Date,
): Promise<void> {
  await writeTarget(
    db,
    {
      target,
      change: { status: null, accountId: input.readBack ? null : (input.accountId ?? null), newLink: !input.readBack && (input.newLink ?? false), confirmedAt: null, lastError: input.lastError },
      audit: {
        actor: 'system',
        action: `target.${target.action}.attempt_failed`,
        identityId: target.identityId,
        eventId: target.eventId,
        system: target.system,
        data: input.readBack ? { ...input.data, phase: 'read_back' } : input.data,
      },
      expected: input.readBack ? 'succeeded' : 'pending',
    },
    now,
  );
}

/**
 * The retries ran out or the failure is permanent: a person has to look at this target. Answers
 * the target's status after it: needs_attention, or the status of a target whose outcome was
 * already final (`isFinal`: settled, or accepted by a system that has no read; by default settled).
 */
export async function markTargetNeedsAttention(
  db: Database,
  target: TargetKey & { reason: string },
  now: Date,
  isFinal: (target: { system: string; status: string }) => boolean = (row) => (SETTLED_TARGET as readonly string[]).includes(row.status),
): Promise<string> {
  return db.$transaction(async (tx) => {
    const row = await tx.targetAction.findUniqueOrThrow({ where: targetKey(target), include: { event: true } });
    // A final outcome stays final: an activity that acted on several targets (decision 067)
    // fails as a whole, and the workflow marks each of them, the ones it settled included.
    if (row.status === 'needs_attention' || isFinal(row)) return row.status;
    await tx.targetAction.update({ where: targetKey(target), data: { status: 'needs_attention', lastError: target.reason } });
    await appendAudit(tx, [
      {
        actor: 'system',
        action: `target.${target.action}.needs_attention`,
        identityId: row.event.identityId,
        eventId: target.eventId,
        system: target.system,
        data: { reason: target.reason, attempts: row.attempts },
      },
    ], now);
    return 'needs_attention';
  });
}

/** The targets of the event `id` names, as the event's end read them; its write goes ahead only when they are still so. */
const targetsSeen = (id: string, status = 't.status', lastError = 't.last_error', from = 'target_action t') =>
  `(SELECT coalesce(string_agg(t.id::text || ':' || ${status}::text || ':' || coalesce(md5(${lastError}), ''), ',' ORDER BY t.created_at, t.id), '')
   FROM ${from} WHERE t.event_id = ${id})`;

type LookupOf = (system: string) => string;

/** The event and one of its targets per row (`id` null: it has none), as the event's end reads them. */
interface EndRow {
  eventId: string;
  kind: string;
  identityId: string;
  eventStatus: string;
  seen: string;
  id: string | null;
  system: string;
  action: string;
  status: string;
  lastError: string | null;
}

/** The end's read: the events `$1` and their targets. */
const END_READ = `SELECT e.id::text AS "eventId", e.kind::text AS kind, e.identity_id AS "identityId", e.status::text AS "eventStatus", ${targetsSeen('e.id')} AS seen,
         t.id, t.system, t.action::text AS action, t.status::text AS status, t.last_error AS "lastError"
  FROM lifecycle_event e LEFT JOIN target_action t ON t.event_id = e.id
  WHERE e.id = ANY($1::uuid[]) ORDER BY e.id, t.created_at, t.id`;

/**
 * A target's final write's answer (decision 059): its event and every target as the end reads
 * them, this write's row included. `current`: no other write of the event's row committed between
 * the statement's snapshot and its lock on the row, so the rows miss no other final write.
 */
export interface EventAfterWrite {
  current: boolean;
  rows: EndRow[];
}

/**
 * What a target's final write adds to its statement (after the CTE `moved`, which returns the
 * target's row as written; `now` is the statement's placeholder): it locks its event's row after
 * the target's (retryTargets' order) and writes it, so that every final write of an event writes
 * the row and they commit one after the other. The snapshot's row version (`xmin`) equal to the
 * one locked means none committed in between: the latest of them to commit then reads every
 * other's in its snapshot, or is not current and reads again after its commit. A statement's
 * reads do not see its own CTEs' writes: the target's row is taken from `moved`.
 */
const EVENT_AFTER_WRITE = (now: string) => `locked AS (
       SELECT e.id, e.xmin AS version FROM lifecycle_event e WHERE e.id IN (SELECT event_id FROM moved) FOR NO KEY UPDATE),
     touched AS (UPDATE lifecycle_event e SET updated_at = ${now}::timestamptz FROM locked WHERE e.id = locked.id)
     SELECT e.id::text AS "eventId", e.kind::text AS kind, e.identity_id AS "identityId", e.status::text AS "eventStatus",
            e.xmin = locked.version AS current,
            ${targetsSeen('e.id', 'coalesce(m.target_status, t.status)', 'CASE WHEN m.target_id IS NULL THEN t.last_error ELSE m.target_last_error END', 'target_action t LEFT JOIN moved m ON m.target_id = t.id')} AS seen,
            t.id, t.system, t.action::text AS action, coalesce(m.target_status, t.status)::text AS status,
            CASE WHEN m.target_id IS NULL THEN t.last_error ELSE m.target_last_error END AS "lastError"
     FROM locked JOIN lifecycle_event e ON e.id = locked.id
     LEFT JOIN target_action t ON t.event_id = e.id LEFT JOIN moved m ON m.target_id = t.id
     ORDER BY t.created_at, t.id`;

function eventAfterWrite(rows: (EndRow & { current: boolean })[]): EventAfterWrite | null {
  const [first] = rows;
  if (!first) return null;
  return { current: first.current, rows: rows.map(({ current: _current, ...row }) => row) };
}

interface EventEnd {
  eventId: string;
  status: string;
  seen: string;
  fixes: { id: string; lastError: string }[];
  audit: AuditEntry;
}

/** What an event's end writes, from the event and its targets as read; null when it is already so. */
function eventEnd(rows: EndRow[], eventId: string, lookupOf: LookupOf): EventEnd | { eventId: string; status: string; seen: null } {
  const event = rows[0]!;
  const targets = rows.filter((row) => row.id !== null);
  // A leaver whose every system knows no such account was most likely looked up wrongly (decision 021).
  const lookedUpWrongly =
    event.kind === 'leaver' && targets.length > 0 && targets.every((target) => target.status === 'not_found')
      ? targets.filter((target) => target.lastError === null).map((target) => ({
          id: target.id!,
          lastError: `Every system answered "no such account" for this leaver: check ${lookupOf(target.system)}, or whether the person ever had accounts`,
        }))
      : [];
  const lastErrorOf = (target: (typeof targets)[number]) => lookedUpWrongly.find((fix) => fix.id === target.id)?.lastError ?? target.lastError;
  const status = finalEventStatus(targets.map((target) => (target.status === 'not_found' && lastErrorOf(target) !== null ? 'needs_attention' : target.status)));
  if (event.eventStatus === status) return { eventId, status, seen: null };
  return {
    eventId,
    status,
    seen: event.seen,
    fixes: lookedUpWrongly,
    audit: { actor: 'system', action: `lifecycle.${event.kind}.${status}`, identityId: event.identityId, eventId, data: { targets: targets.map(({ system, action, status: targetStatus }) => ({ system, action, status: targetStatus })) } },
  };
}

/**
 * The event's end: completed, or needs attention when a target failed or never ran. Two
 * statements and no transaction: a read of the event and its targets, then one statement that
 * finishes the event with its audit row, on condition that the targets are still as read (an
 * operator's retry between the two means reading again).
 */
export async function finishEvent(db: Database, eventId: string, now: Date, lookupOf?: LookupOf): Promise<string> {
  return (await finishEvents(db, [eventId], now, lookupOf)).get(eventId)!;
}

/**
 * The event's end, written as finishEvent writes it, but only once every target is `final`: the
 * lean target action's (decision 055) after its own last write. Each target action checks after
 * its last write has committed, so the last of them to commit sees every other one's and ends the
 * event; two that both see all final write the end once (finishEvents' conditional write). Null:
 * a target is still to be settled, and the event stays open. `after`: what the action's final
 * write answered (decision 059); when current, it is the read, and only the end's write is sent.
 */
export async function finishEventIfSettled(
  db: Database,
  eventId: string,
  now: Date,
  final: (target: { system: string; status: string }) => boolean,
  lookupOf?: LookupOf,
  after?: EventAfterWrite | null,
): Promise<string | null> {
  return (await finishEvents(db, [eventId], now, lookupOf, final, after?.current ? after.rows : undefined)).get(eventId) ?? null;
}

/**
 * The ends of several events (a mass-release page's, decision 048), each exactly as finishEvent
 * writes it, in two statements for all of them: one read, one write. Answers each event's status;
 * with `final`, only for the events whose every target it calls final (the others are left open).
 */
export async function finishEvents(
  db: Database,
  eventIds: string[],
  now: Date,
  lookupOf: LookupOf = (system) => `${system}'s lookup setting`,
  final?: (target: { system: string; status: string }) => boolean,
  read?: EndRow[],
): Promise<Map<string, string>> {
  const sql = sqlOf(db);
  const statuses = new Map<string, string>();
  let open = [...new Set(eventIds)];
  for (let attempt = 0; open.length > 0; attempt += 1) {
    // `read`: the events and their targets as a caller's own statement just read them, for the first round.
    const rows = attempt === 0 && read ? read : await sql.prepared<EndRow>(END_READ, [open]);
    const byEvent = new Map<string, typeof rows>();
    for (const row of rows) byEvent.set(row.eventId, [...(byEvent.get(row.eventId) ?? []), row]);
    const ends: EventEnd[] = [];
    for (const eventId of open) {
      const own = byEvent.get(eventId);
      if (!own) throw new EventStatusMoved(eventId, ['running'], null);
      // Not every target settled (finishEventIfSettled): no end, and no answer for this event.
      if (final && !own.every((row) => row.id === null || final(row))) continue;
      const end = eventEnd(own, eventId, lookupOf);
      if (end.seen === null) statuses.set(eventId, end.status);
      else ends.push(end);
    }
    if (ends.length === 0) return statuses;
    const record = auditInsertSql(ends.map((end) => end.audit), now, 8, 'entry.event_id IN (SELECT id FROM finished)');
    const fixes = ends.flatMap((end) => end.fixes.map((fix) => ({ ...fix, eventId: end.eventId })));
    const written = await sql.prepared<{ id: string; finished: boolean; unchanged: boolean }>(
      `WITH input AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS input(id, status, seen)),
       finished AS (
         UPDATE lifecycle_event e SET status = input.status::event_status, completed_at = $4::timestamptz, updated_at = $4::timestamptz
         FROM input
         WHERE e.id = input.id AND e.status::text <> input.status AND ${targetsSeen('e.id')} = input.seen
         RETURNING e.id),
       noted AS (
         UPDATE target_action t SET last_error = fix.last_error FROM unnest($5::uuid[], $6::text[], $7::uuid[]) AS fix(id, last_error, event_id)
         WHERE t.id = fix.id AND t.last_error IS NULL AND fix.event_id IN (SELECT id FROM finished)),
       audit AS (${record.text})
       SELECT input.id::text AS id, input.id IN (SELECT id FROM finished) AS finished, ${targetsSeen('input.id')} = input.seen AS unchanged FROM input`,
      [ends.map((end) => end.eventId), ends.map((end) => end.status), ends.map((end) => end.seen), now, fixes.map((fix) => fix.id), fixes.map((fix) => fix.lastError), fixes.map((fix) => fix.eventId), ...record.values],
    );
    const again: string[] = [];
    for (const end of ends) {
      const row = written.find((entry) => entry.id === end.eventId);
      if (row?.finished || row?.unchanged) statuses.set(end.eventId, end.status);
      else again.push(end.eventId);
    }
    if (again.length > 0 && attempt >= 5) throw new EventStatusMoved(again[0]!, ['running'], null);
    open = again;
  }
  return statuses;
}
