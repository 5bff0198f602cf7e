// What an operator may do to lifecycle events: look at them, release or refuse a leaver the
// mass-deprovision guard held (a leaver, or a mover losing an entitlement), and run targets that need attention again. Shared by the operator
// API and the CLI. Every change commits in one transaction with its outbox row and its audit row,
// written by src/lifecycle/transitions.ts; the caller kicks the relay afterwards (`onOutboxWritten`), or the relay's sweep picks it up.
import { z } from 'zod';
import type { Database, Prisma } from '../db/client.js';
import type { Transaction } from '../audit/append.js';
import { SYSTEMS, type SystemName } from '../connectors/types.js';
import type { LifecycleEvent } from '../generated/prisma/client.js';
import { workflowIdForEvent, type LifecycleWorkflowInput } from '../../workflows/contract.js';
import { operatorNameSchema } from './operator-name.js';
import { approveHeld, recordFirstApproval, rejectHeld, retryTargets, type MassReleaseOption } from './transitions.js';

export const EVENT_KINDS = ['joiner', 'mover', 'leaver', 'rehire'] as const;
export const EVENT_STATUSES = ['pending', 'running', 'waiting', 'held', 'completed', 'needs_attention', 'cancelled'] as const;
export const MAX_PAGE = 200;

export class EventNotFound extends Error {
  override readonly name = 'EventNotFound';
  constructor(readonly eventId: string) {
    super(`No lifecycle event ${eventId}: list events with GET /api/events or \`jml events list\``);
  }
}

/** The event (or its targets) is not in a state the operation applies to. */
export class EventNotInState extends Error {
  override readonly name = 'EventNotInState';
  constructor(
    readonly eventId: string,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The two-person rule (JML_APPROVALS_REQUIRED=2): the operator who gave a held leaver its first
 * approval cannot give it the second (docs/decisions/038-two-person-release.md).
 */
export class SecondApproverRequired extends Error {
  override readonly name = 'SecondApproverRequired';
  constructor(
    readonly eventId: string,
    readonly firstApprovedBy: string,
  ) {
    super(`Event ${eventId} was approved by ${firstApprovedBy} already; releasing a held event needs a second approval from a different operator (JML_APPROVALS_REQUIRED=2)`);
  }
}

/** A later event of the same person acts on the same system: running this one again would undo it. */
export class EventSuperseded extends Error {
  override readonly name = 'EventSuperseded';
  constructor(
    readonly eventId: string,
    readonly laterEventId: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- Inputs, validated with zod at both edges (API and CLI) ----------------------------------

export const eventIdSchema = z.uuid({ error: 'must be a lifecycle event id (a UUID)' });
const isoDate = z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone' }).transform((iso) => new Date(iso));

interface Cursor {
  createdAt: Date;
  id: string;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString('base64url');
}

const cursorSchema = z.string().max(200).transform((raw, context): Cursor => {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && !Number.isNaN(Date.parse(createdAt)) && eventIdSchema.safeParse(id).success) {
      return { createdAt: new Date(createdAt), id: id as string };
    }
  } catch {
    // Falls through to the issue below: a cursor is only ever one this module handed out.
  }
  context.addIssue({ code: 'custom', message: 'must be a nextCursor returned by an earlier page' });
  return z.NEVER;
});

/** Filters as strings (query parameters, command-line flags) become typed values here. */
export const listEventsSchema = z.strictObject({
  identityId: z.uuid({ error: 'must be a SCIM user id (a UUID)' }).optional(),
  kind: z.enum(EVENT_KINDS).optional(),
  status: z.enum(EVENT_STATUSES).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50),
  cursor: cursorSchema.optional(),
});
/** Unparsed, as flags and query parameters arrive; listEvents validates them. */
export type ListEventsInput = { [K in 'identityId' | 'kind' | 'status' | 'since' | 'until' | 'cursor']?: string } & { limit?: string | number };

export const retrySchema = z.strictObject({ system: z.enum(SYSTEMS).optional() });
export const rejectSchema = z.strictObject({ reason: z.string().trim().min(1).max(1000).optional() });

// ---- Reading -----------------------------------------------------------------------------------

const targetFields = {
  system: true,
  action: true,
  status: true,
  attempts: true,
  lastError: true,
  accountId: true,
  confirmedAt: true,
  updatedAt: true,
} as const;

export interface TargetView {
  system: string;
  action: string;
  status: string;
  attempts: number;
  lastError: string | null;
  accountId: string | null;
  confirmedAt: Date | null;
  updatedAt: Date;
}

export interface EventView {
  id: string;
  identityId: string;
  kind: string;
  status: string;
  actor: string;
  workflowId: string;
  effectiveAt: Date;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  /** Under the two-person rule: who approved this held leaver first, awaiting a second operator. */
  firstApprovedBy: string | null;
  targets: TargetView[];
}

export interface EventDetail extends EventView {
  changes: unknown;
  /** The event's workflow runs: the first, then one per operator retry. */
  runs: { workflowId: string; createdAt: Date; dispatchedAt: Date | null; lastError: string | null }[];
}

function viewOf(event: LifecycleEvent & { actions: TargetView[] }): EventView {
  return {
    id: event.id,
    identityId: event.identityId,
    kind: event.kind,
    status: event.status,
    actor: event.actor,
    workflowId: event.workflowId,
    effectiveAt: event.effectiveAt,
    createdAt: event.createdAt,
    updatedAt: event.updatedAt,
    completedAt: event.completedAt,
    firstApprovedBy: event.firstApprovedBy,
    targets: event.actions,
  };
}

/** Newest first; keyset pagination on (createdAt, id), so pages hold still while events arrive. */
export async function listEvents(db: Database, input: ListEventsInput): Promise<{ events: EventView[]; nextCursor: string | null }> {
  const filter = listEventsSchema.parse(input);
  const where: Prisma.LifecycleEventWhereInput = {
    identityId: filter.identityId,
    kind: filter.kind,
    status: filter.status,
    createdAt: { gte: filter.since, lt: filter.until },
  };
  if (filter.cursor) {
    const { createdAt, id } = filter.cursor;
    where.OR = [{ createdAt: { lt: createdAt } }, { createdAt, id: { lt: id } }];
  }
  const rows = await db.lifecycleEvent.findMany({
    where,
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: filter.limit + 1,
    include: { actions: { select: targetFields, orderBy: { system: 'asc' } } },
  });
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return { events: page.map(viewOf), nextCursor: rows.length > filter.limit && last ? encodeCursor(last) : null };
}

export async function getEvent(db: Database, id: string): Promise<EventDetail> {
  const event = await db.lifecycleEvent.findUnique({
    where: { id: eventIdSchema.parse(id) },
    include: { actions: { select: targetFields, orderBy: { system: 'asc' } } },
  });
  if (!event) throw new EventNotFound(id);
  const runs = await db.outboxEntry.findMany({
    where: { kind: 'start', OR: [{ workflowId: event.workflowId }, { workflowId: { startsWith: retryPrefix(event) } }] },
    select: { workflowId: true, createdAt: true, dispatchedAt: true, lastError: true },
    orderBy: { id: 'asc' },
  });
  return { ...viewOf(event), changes: event.changes, runs };
}

// ---- Changing ----------------------------------------------------------------------------------

/** Locks the event row for the rest of the transaction: operators and workflows take turns. */
async function lockEvent(tx: Transaction, eventId: string): Promise<LifecycleEvent> {
  await tx.$queryRaw`SELECT id FROM lifecycle_event WHERE id = ${eventIdSchema.parse(eventId)}::uuid FOR UPDATE`;
  const event = await tx.lifecycleEvent.findUnique({ where: { id: eventId } });
  if (!event) throw new EventNotFound(eventId);
  return event;
}

function requireHeld(event: LifecycleEvent, verb: string): void {
  if (event.status !== 'held') {
    throw new EventNotInState(event.id, event.status, `Event ${event.id} is ${event.status}, not held: only an event the mass-deprovision guard held (a leaver, or a mover losing access) can be ${verb}`);
  }
}

export interface OperatorAction {
  by: string;
  /** Called after the transaction committed, when it wrote outbox rows (kick the relay). */
  onOutboxWritten?: () => void;
}

export interface ApprovalAction extends OperatorAction {
  /** JML_APPROVALS_REQUIRED: 1 (default) releases at once; 2 needs two different operators. */
  approvalsRequired?: number;
  /**
   * JML_MASS_RELEASE_THRESHOLD: an approval releasing more events than this runs them in one
   * mass-release workflow (docs/decisions/048-mass-release-lane.md). Unset or 0: never.
   */
  massReleaseThreshold?: number;
  /** The mass-release workflow's page size and pages per run, when not its defaults (tests, benchmarks). */
  massReleasePaging?: MassReleaseOption['paging'];
}

export interface Signalled {
  eventId: string;
  workflowId: string;
  signal: 'approve' | 'reject';
  /** The event's status now. */
  status: string;
}

export interface Approved extends Signalled {
  /** Released: the approve signal is on its way. Not released: still held, waiting for another operator. */
  released: boolean;
  /** The operators whose approvals count, in order. */
  approvedBy: string[];
  approvalsRequired: number;
}

/**
 * Approves held leavers. With one approval required, each moves from held to pending in the same
 * transaction as its approve signal, so a second approve or a late reject is refused rather than
 * racing the first signal to the workflow. With two, an event's first approval is recorded and it
 * stays held; a different operator's approval releases it; the same operator's is refused for one
 * event (SecondApproverRequired) and left waiting in a bulk approval.
 */
async function approveLocked(
  tx: Transaction,
  events: LifecycleEvent[],
  by: string,
  required: number,
  now: Date,
  single: boolean,
  mass?: MassReleaseOption,
): Promise<{ approved: Approved[]; massReleaseWorkflowId: string | null }> {
  const view = (event: LifecycleEvent, released: boolean, approvedBy: string[]): Approved => ({
    eventId: event.id,
    workflowId: event.workflowId,
    signal: 'approve',
    status: released ? 'pending' : 'held',
    released,
    approvedBy,
    approvalsRequired: required,
  });
  if (required <= 1) {
    const { massReleaseWorkflowId } = await approveHeld(tx, events, by, now, mass);
    return { approved: events.map((event) => view(event, true, [by])), massReleaseWorkflowId };
  }
  const mine = events.filter((event) => event.firstApprovedBy === by);
  if (single && mine[0]) throw new SecondApproverRequired(mine[0].id, by);
  const first = events.filter((event) => event.firstApprovedBy === null);
  const second = events.filter((event) => event.firstApprovedBy !== null && event.firstApprovedBy !== by);
  await recordFirstApproval(tx, first, by, required, now);
  const { massReleaseWorkflowId } = await approveHeld(tx, second, by, now, mass);
  return {
    approved: events.map((event) =>
      event.firstApprovedBy === null ? view(event, false, [by]) : event.firstApprovedBy === by ? view(event, false, [by]) : view(event, true, [event.firstApprovedBy, by]),
    ),
    massReleaseWorkflowId,
  };
}

export async function approveEvent(db: Database, input: ApprovalAction & { eventId: string }): Promise<Approved> {
  const by = operatorNameSchema.parse(input.by);
  const [approved] = await db.$transaction(async (tx) => {
    const event = await lockEvent(tx, input.eventId);
    requireHeld(event, 'approved');
    return (await approveLocked(tx, [event], by, input.approvalsRequired ?? 1, new Date(), true)).approved;
  });
  if (approved!.released) input.onOutboxWritten?.();
  return approved!;
}

/**
 * Approves every held leaver at once: the operator has looked at the burst and it is genuine. More
 * than `massReleaseThreshold` released go to one mass-release workflow, named in the answer.
 */
export async function approveAllHeld(db: Database, input: ApprovalAction): Promise<{ approved: Approved[]; massReleaseWorkflowId?: string }> {
  const by = operatorNameSchema.parse(input.by);
  const approved = await db.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM lifecycle_event WHERE status = 'held' ORDER BY created_at, id FOR UPDATE`;
    const events = await tx.lifecycleEvent.findMany({ where: { id: { in: locked.map((row) => row.id) } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
    const threshold = input.massReleaseThreshold ?? 0;
    return approveLocked(tx, events, by, input.approvalsRequired ?? 1, new Date(), false, threshold > 0 ? { threshold, paging: input.massReleasePaging } : undefined);
  });
  if (approved.approved.some((event) => event.released)) input.onOutboxWritten?.();
  return { approved: approved.approved, ...(approved.massReleaseWorkflowId ? { massReleaseWorkflowId: approved.massReleaseWorkflowId } : {}) };
}

/**
 * Refuses a held leaver: nothing is sent downstream. The event and its targets are cancelled here,
 * as a rehire cancels an open leaver (src/lifecycle/record.ts); the signal ends the waiting workflow.
 */
export async function rejectEvent(db: Database, input: OperatorAction & { eventId: string; reason?: string }): Promise<Signalled & { reason?: string }> {
  const by = operatorNameSchema.parse(input.by);
  const { reason } = rejectSchema.parse({ reason: input.reason });
  const rejected = await db.$transaction(async (tx) => {
    const event = await lockEvent(tx, input.eventId);
    requireHeld(event, 'rejected');
    await rejectHeld(tx, event, by, reason, new Date());
    return { eventId: event.id, workflowId: event.workflowId, signal: 'reject' as const, status: 'cancelled', reason };
  });
  input.onOutboxWritten?.();
  return rejected;
}

function retryPrefix(event: Pick<LifecycleEvent, 'id'>): string {
  return `${workflowIdForEvent(event.id)}-retry-`;
}

export interface Retried {
  eventId: string;
  workflowId: string;
  generation: number;
  targets: { system: SystemName; action: 'deactivate' | 'reactivate' }[];
}

/**
 * Runs the targets that need attention again, in a new workflow whose generation gives the user
 * API a new idempotency-ref (it would otherwise replay the refusal the operator has since fixed).
 *
 * The generation is the number of retry starts already in the outbox for this event, plus one.
 * Counting under the event row lock serialises retries of one event; the outbox's one-start-per-
 * workflow-id index makes a reused generation fail loudly instead of collapsing into an old run.
 */
export async function retryEvent(db: Database, input: OperatorAction & { eventId: string; system?: string }): Promise<Retried> {
  const by = operatorNameSchema.parse(input.by);
  const { system } = retrySchema.parse({ system: input.system });
  const retried = await db.$transaction(async (tx) => {
    const event = await lockEvent(tx, input.eventId);
    // Only a finished workflow's failures: a running one still settles its own targets.
    if (event.status !== 'needs_attention') {
      throw new EventNotInState(event.id, event.status, `Event ${event.id} is ${event.status}: only an event whose workflow finished with targets that need attention can be retried`);
    }
    // A not-found that needs attention is retried too: the operator has fixed the lookup setting.
    const failed = await tx.targetAction.findMany({
      where: { eventId: event.id, system, OR: [{ status: 'needs_attention' }, { status: 'not_found', lastError: { not: null } }] },
      orderBy: { system: 'asc' },
    });
    if (failed.length === 0) {
      throw new EventNotInState(event.id, event.status, `No target of event ${event.id}${system ? ` in ${system}` : ''} needs attention: nothing to retry`);
    }
    const targets = failed.map(({ system, action }) => ({ system: system as SystemName, action }));

    // A later event of this person that acts on the same system (a rehire after a failed leaver)
    // has the last word: repeating this one now would undo it.
    const later = await tx.lifecycleEvent.findFirst({
      where: {
        identityId: event.identityId,
        status: { not: 'cancelled' },
        OR: [{ createdAt: { gt: event.createdAt } }, { createdAt: event.createdAt, id: { gt: event.id } }],
        actions: { some: { system: { in: targets.map((target) => target.system) } } },
      },
      orderBy: { createdAt: 'asc' },
    });
    if (later) {
      throw new EventSuperseded(event.id, later.id, `Event ${later.id} (${later.kind}) came after event ${event.id} and acts on the same systems: retrying would undo it`);
    }

    const original = await tx.outboxEntry.findFirst({ where: { kind: 'start', workflowId: event.workflowId } });
    const originalInput = (original?.args as unknown[] | undefined)?.[0] as LifecycleWorkflowInput | undefined;
    if (!originalInput) throw new Error(`The workflow input of event ${event.id} is no longer in the outbox: it cannot be retried from here`);
    const generation = (await tx.outboxEntry.count({ where: { kind: 'start', workflowId: { startsWith: retryPrefix(event) } } })) + 1;
    const workflowId = workflowIdForEvent(event.id, generation);
    const args: LifecycleWorkflowInput = {
      eventId: event.id,
      kind: originalInput.kind,
      targets,
      queuePrefix: originalInput.queuePrefix,
      retryDeadlineMs: originalInput.retryDeadlineMs,
      retryInitialIntervalMs: originalInput.retryInitialIntervalMs,
      retryMaximumIntervalMs: originalInput.retryMaximumIntervalMs,
      // The person has been approved or was never held, and the date has passed: act now.
      guard: false,
      generation,
      unthrottledSystems: originalInput.unthrottledSystems,
    };

    await retryTargets(tx, event, { by, targetIds: failed.map((target) => target.id), workflowId, workflowInput: args, now: new Date() });
    return { eventId: event.id, workflowId, generation, targets };
  });
  input.onOutboxWritten?.();
  return retried;
}
