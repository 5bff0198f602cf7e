// The activity that acts on one downstream system: find the account, disable or enable it, and
// record the outcome. Runs on the system's own task queue (docs/decisions/005).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { AccountNotFoundError, isDownstreamError } from '../connectors/errors.js';
import { pacedConnectors } from '../connectors/pace.js';
import { BATCH_LOOKUP_MAX, LIST_PAGE_MAX, NO_READ_API, type AccountState, type Connector, type IdentitySnapshot, type SystemName } from '../connectors/types.js';
import { TARGET_ACTION_HEARTBEAT_TIMEOUT_MS, type MassPageItem, type TargetActionKind } from '../../workflows/contract.js';
import { sqlOf } from '../db/sql.js';
import { SETTLED_TARGET } from '../lifecycle/plan.js';
import { groupCommit } from '../db/group-commit.js';
import {
  BEGIN_IF_FIRST,
  BEGIN_IF_FIRST_STATUS,
  beginIfFirstValues,
  beginVerdict,
  EventStatusMoved,
  finishEventIfSettled,
  markTargetNeedsAttention,
  recordFailedAttempt,
  recordFinalReadBack,
  recordReadBack,
  recordReadBacks,
  settleFinalTarget,
  settleFinalVerifiedTarget,
  settleTarget,
  settleTargets,
  settleVerifiedTarget,
  type EventAfterWrite,
  type ReadBackOutcome,
  type TargetOutcome,
  type VerifiedOutcome,
} from '../lifecycle/transitions.js';
import type { ActivityDependencies } from './index.js';

type Deps = ActivityDependencies & { now: () => Date };

/** The shortest wait before retrying after a rate-limit answer. */
const MIN_RETRY_DELAY_MS = 100;

/** Statuses after which repeating the activity must not call the system again. */
const SETTLED = new Set<string>(SETTLED_TARGET);

/**
 * Reads that contradict an accepted write (the system said 204, the account is still active)
 * before the target needs attention. Each is a Temporal retry with the write's backoff and rate
 * limit; none repeats the write (docs/decisions/021-outcomes-and-read-back.md).
 */
export const READ_BACK_ATTEMPTS = 3;

const DEFAULT_NOT_FOUND_BURST = { count: 3, windowMs: 60 * 60 * 1000 };

/** Accounts a mass-release page acts on at once in one system (within its rate limit). */
const PAGE_CONCURRENCY = 10;

/**
 * 429s one account of a mass-release page waits out within the page's attempt (the shared pace
 * holds its calls until the vendor's hint) before the page fails and Temporal retries it
 * (decision 064). A page waits, heartbeating, rather than fail: each failed attempt of a page is
 * a backoff that grows for every account of it, and a vendor without a hint leaves Temporal's.
 */
export const PAGE_RATE_LIMIT_WAITS = 5;

export interface TargetRequest {
  eventId: string;
  system: SystemName;
  action: TargetActionKind;
  /** 0 for the event's first run, then one more for each operator retry. */
  generation?: number;
}

/** The target with what acting on it needs: its identity and the account already linked, if any. */
interface TargetRow {
  eventId: string;
  action: string;
  status: string;
  identityId: string;
  userName: string;
  externalId: string | null;
  email: string | null;
  employeeNumber: string | null;
  resource: Record<string, unknown>;
  accountId: string | null;
  /** The account this target acted on, once accepted. */
  targetAccountId: string | null;
}

function snapshotOf(row: TargetRow): IdentitySnapshot {
  return {
    id: row.identityId,
    userName: row.userName,
    externalId: row.externalId,
    email: row.email,
    employeeNumber: row.employeeNumber,
    resource: row.resource,
  };
}

/**
 * Stable across retries and replays, so the generic API's idempotency-ref never acts twice. An
 * operator's retry is a new generation with a new key: the API replays a completed request's
 * result for its key, including a refusal that the operator has since fixed.
 */
export function idempotencyKeyFor(request: TargetRequest): string {
  const base = `jml-${request.eventId}-${request.system}-${request.action}`;
  return request.generation ? `${base}-r${request.generation}` : base;
}

function keyOf({ eventId, system, action }: TargetRequest) {
  return { eventId, system, action };
}

/**
 * Where act() writes a target's outcome and read-back: one statement each (the per-leaver
 * activity), or grouped with the page's other accounts that finish at the same moment (a
 * mass-release page, decision 048). Either way each write is settleTarget's or recordReadBack's,
 * or, where the recorder has `settleVerified` (not a page's), settleVerifiedTarget's: an acceptance
 * and the read that verified it in one statement (decision 065). `at`: when the outcome happened,
 * where that was before the write (an acceptance held back for its read).
 */
interface Recorder {
  settle(target: TargetOutcome['target'], outcome: TargetOutcome['outcome'], at?: Date): Promise<void>;
  readBack(target: ReadBackOutcome['target'], outcome: ReadBackOutcome['outcome']): Promise<number>;
  settleVerified?(outcome: VerifiedOutcome): Promise<void>;
}

/** A vendor's acceptance not yet written (decision 065): with the read that verifies it, or alone before any other outcome. */
interface UnrecordedAcceptance {
  withVerification(verification: Record<string, unknown>): Promise<void>;
  alone(): Promise<void>;
}

/** An account's state as a listing of the system's accounts showed it (decision 066). */
interface ListedState {
  active: boolean;
}

/** TargetRow's columns, from `t` (the target), `i` (its identity) and `a` (the account link). */
const TARGET_COLUMNS = `t.event_id::text AS "eventId", t.action::text AS action, t.status::text AS status,
         i.id AS "identityId", i.user_name AS "userName", i.external_id AS "externalId", i.email, i.employee_number AS "employeeNumber",
         i.resource, a.account_id AS "accountId", t.account_id AS "targetAccountId"`;

/** A target with its identity and the account already linked, if any: one joined read (decision 019) for one target or a page's. */
const TARGET_ROWS = `SELECT ${TARGET_COLUMNS}
  FROM target_action t
  JOIN lifecycle_event e ON e.id = t.event_id
  JOIN identity i ON i.id = e.identity_id
  LEFT JOIN account_link a ON a.identity_id = i.id AND a.system = t.system
  WHERE t.system = $1 AND (t.event_id, t.action) IN (SELECT * FROM unnest($2::uuid[], $3::action_kind[]))`;

/**
 * The lean target action's read (decision 055): the target as TARGET_ROWS reads it, and the move of
 * its event to running when it is the first to get there with nothing of the person's ahead
 * (transitions.ts's BEGIN_IF_FIRST, $1-$3), in one statement.
 */
const BEGIN_AND_READ_TARGET = `WITH ${BEGIN_IF_FIRST}
  SELECT ${TARGET_COLUMNS}, ${BEGIN_IF_FIRST_STATUS} AS "eventStatus", EXISTS (SELECT 1 FROM begun) AS begun
  FROM event
  JOIN target_action t ON t.event_id = event.id
  JOIN identity i ON i.id = event.identity_id
  LEFT JOIN account_link a ON a.identity_id = i.id AND a.system = t.system
  WHERE t.system = $4 AND t.action = $5::action_kind`;

/**
 * What the lean path's target action did (decision 055). `status`: the target's, or `wait` (not
 * acted on: an earlier event of the person is still open) or `cancelled` (the event was cancelled
 * before it began). `ended`: this step ended the event, or found it ended.
 */
export interface LeanTargetResult {
  status: string;
  ended: boolean;
}

/** An event's targets acted on in one activity (applyLeanTargetsTogether, decision 067). */
export interface LeanTargetsRequest {
  eventId: string;
  generation: number;
  targets: { system: SystemName; action: TargetActionKind }[];
}

const rowKey = (target: { eventId: string; action: string }) => `${target.eventId} ${target.action}`;

/** A failure act() raised for a vendor's 429 (its details carry the HTTP status). */
function isRateLimitFailure(failure: ApplicationFailure): boolean {
  const [details] = failure.details ?? [];
  return typeof details === 'object' && details !== null && (details as { status?: unknown }).status === 429;
}

/**
 * Heartbeats while the activity runs, so the server knows the attempt is alive while it waits on a
 * slow system or database, and retries it soon after its worker dies.
 */
export function heartbeating<A extends unknown[], R>(activity: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    const context = Context.current();
    const timer = setInterval(() => context.heartbeat(), TARGET_ACTION_HEARTBEAT_TIMEOUT_MS / 4);
    try {
      return await activity(...args);
    } finally {
      clearInterval(timer);
    }
  };
}

/**
 * A dry run goes as far as it safely can (issue 14): it looks the account up and reads its state
 * where the vendor documents reads, and says what it would do to which account; it sends no
 * change. A lookup that fails is reported, not retried: nothing depends on it.
 */
async function lookUpForDryRun(
  request: TargetRequest,
  connector: Connector,
  target: TargetRow,
): Promise<{ accountId: string | null; message: string; active?: boolean; lookupError?: string }> {
  try {
    const accountId = target.accountId ?? (await connector.resolveAccount(snapshotOf(target)));
    if (accountId === null) return { accountId, message: `would find no account in ${request.system} (${connector.lookup}): nothing to ${request.action}` };
    const state = connector.readAccount ? await connector.readAccount(accountId) : undefined;
    if (state === null) return { accountId, message: `would find no account ${accountId} in ${request.system}: nothing to ${request.action}` };
    const now = state === undefined ? '' : `, now ${state.active ? 'active' : 'inactive'}`;
    return { accountId, message: `would ${request.action} account ${accountId} in ${request.system}${now}`, ...(state ? { active: state.active } : {}) };
  } catch (error) {
    return { accountId: target.accountId, message: `would ${request.action} in ${request.system}; the look-up failed`, lookupError: (error as Error).message };
  }
}

/**
 * Whether a target's outcome is its last: a settled one, one that needs attention, or one the
 * system accepted where there is no read to verify it by. An accepted one awaiting its read-back
 * is not, nor one whose system this worker has no connector for (the workflow then ends the event).
 */
export function finalOutcomeOf(connectors: ActivityDependencies['connectors']): (target: { system: string; status: string }) => boolean {
  return (target) => {
    if (SETTLED.has(target.status) || target.status === 'needs_attention') return true;
    const connector = connectors[target.system as SystemName];
    return target.status === 'succeeded' && connector !== undefined && !connector.readAccount;
  };
}

/** The setting that decides how a system's accounts are found, named when every system answered "no such account". */
export function lookupSettingOf(connectors: ActivityDependencies['connectors']): (system: string) => string {
  return (system) => connectors[system as SystemName]?.lookup ?? `${system}'s lookup setting`;
}

export function createTargetActivities({ db, connectors, dryRun, now, rateLimits, notFoundBurst = DEFAULT_NOT_FOUND_BURST }: Deps) {
  // One pace per system and rate-limit count for this worker process (decision 064): a page's
  // calls wait for their slots; a per-leaver activity's go at once (Temporal paces those, and an
  // attempt has a minute), counted in the same pace so that pages leave them room and back off
  // on their 429s too.
  const paced = pacedConnectors(connectors, rateLimits);

  /** One statement per write: the per-leaver activity's. */
  const eachAlone: Recorder = {
    settle: (target, outcome, at) => settleTarget(db, target, outcome, at ?? now()),
    readBack: (target, outcome) => recordReadBack(db, target, outcome, now()),
    settleVerified: (outcome) => settleVerifiedTarget(db, outcome, now()),
  };

  /** A page's writes, grouped with those of its other accounts that finish meanwhile (group-commit.ts). */
  function grouped(): Recorder {
    const settleGrouped = groupCommit((outcomes: TargetOutcome[]) => settleTargets(db, outcomes, now()));
    const readBackGrouped = groupCommit((readBacks: ReadBackOutcome[]) => recordReadBacks(db, readBacks, now()));
    return {
      async settle(target, outcome) {
        // As settleTarget: a target no longer pending was settled by another run, and the retry reads what happened.
        if (!(await settleGrouped({ target, outcome }))) throw new EventStatusMoved(target.eventId, ['pending'], null);
      },
      readBack: (target, outcome) => readBackGrouped({ target, outcome }),
    };
  }

  /** Targets with what acting on them needs, by rowKey. */
  async function readTargets(system: SystemName, requests: { eventId: string; action: string }[]): Promise<Map<string, TargetRow>> {
    const rows = await sqlOf(db).query<TargetRow>(TARGET_ROWS, [system, requests.map((request) => request.eventId), requests.map((request) => request.action)]);
    return new Map(rows.map((row) => [rowKey(row), row]));
  }

  /** What a not-found needs: attention when one system answers it in a burst (a wrong lookup setting). */
  async function notFoundAttention(request: TargetRequest, error: AccountNotFoundError): Promise<{ attention: string | null; inWindow: number }> {
    const since = new Date(now().getTime() - notFoundBurst.windowMs);
    const earlier = await db.targetAction.count({ where: { system: request.system, status: 'not_found', updatedAt: { gte: since }, NOT: { eventId: request.eventId } } });
    const inWindow = earlier + 1;
    const attention =
      inWindow >= notFoundBurst.count
        ? `${inWindow} accounts not found in ${request.system} within ${Math.round(notFoundBurst.windowMs / 60_000)} min: the lookup is probably wrong; check ${error.lookup}`
        : null;
    return { attention, inWindow };
  }

  /**
   * The system knows no such account: recorded as `not_found`, never as deactivated. A stale link
   * is dropped so that a retry after the setting is fixed looks the person up again.
   */
  async function settleNotFound(request: TargetRequest, identityId: string, error: AccountNotFoundError, data: Record<string, unknown>, accepted: boolean, recorder: Recorder) {
    const { attention, inWindow } = await notFoundAttention(request, error);
    if (error.accountId !== null) await db.accountLink.deleteMany({ where: { identityId, system: request.system, accountId: error.accountId } });
    const details = { ...data, accountId: error.accountId, lookup: error.lookup, message: error.message, notFoundInWindow: inWindow, attention };
    if (accepted) {
      await recorder.readBack({ ...keyOf(request), identityId, generation: request.generation ?? 0 }, { status: 'not_found', lastError: attention, data: details });
    } else {
      await recorder.settle({ ...keyOf(request), identityId }, { status: 'not_found', accountId: error.accountId, lastError: attention, data: details });
    }
  }

  /**
   * Reads the account back after the system accepted the change. Verified only when the read
   * shows the new state; a contradicting read is retried by Temporal (never re-sending the
   * write) and, after READ_BACK_ATTEMPTS, needs attention.
   */
  async function readBack(
    request: TargetRequest,
    identityId: string,
    connector: Connector,
    accountId: string,
    attempt: number,
    recorder: Recorder,
    listed?: ListedState,
    unrecorded?: UnrecordedAcceptance,
  ): Promise<'verified'> {
    const started = Date.now();
    const expected = request.action === 'reactivate';
    let state: AccountState | null;
    try {
      state = listed ? { accountId, active: listed.active } : await connector.readAccount!(accountId);
    } catch (error) {
      // A read that fails is a failed attempt on the accepted target: the acceptance goes first.
      await unrecorded?.alone();
      throw error;
    }
    const readBy = listed ? { readBy: 'listing' } : {};
    const key = { ...keyOf(request), identityId, generation: request.generation ?? 0 };
    const verification = { accountId, attempt, read: { active: expected }, ...readBy, durationMs: Date.now() - started };
    if (unrecorded && state?.active === expected) {
      await unrecorded.withVerification(verification);
      return 'verified';
    }
    await unrecorded?.alone();
    if (state === null) {
      throw new AccountNotFoundError({ system: request.system, accountId, lookup: connector.lookup, vendorMessage: 'gone when read back after the change was accepted' });
    }
    if (state.active === expected) {
      await recorder.readBack(key, { status: 'verified', data: verification });
      return 'verified';
    }
    const seen = await recorder.readBack(key, { status: 'read_contradicted', data: { accountId, attempt, read: { active: state.active }, ...readBy, expected: { active: expected } } });
    throw ApplicationFailure.create({
      type: 'ReadBackContradicted',
      message: `${request.system} accepted the ${request.action} of account ${accountId}, but reading it back shows it ${state.active ? 'still active' : 'still inactive'} (${seen} of ${READ_BACK_ATTEMPTS} reads): the system did not apply it; look at the account in ${request.system}, then retry`,
      nonRetryable: seen >= READ_BACK_ATTEMPTS,
    });
  }

  /**
   * Acts on one target: the per-leaver activity's body, and a mass-release page's per account
   * (decision 048). `page`: the target as the page read it with the others, and where the page
   * records; a target an earlier attempt of the page gave up on (needs attention) is left as it
   * is, as the per-leaver workflow never runs an activity again after that; `page.deferRead`: an
   * accepted change is left `succeeded` for the page to read back with the others (decision 066);
   * `page.listed`: the account as the page's listing showed it after the change, read instead of
   * the account alone; `page.resolved`: the page's batched lookup, by identity id. `lean`: the target as the lean action's begin read it, and where that
   * action records.
   */
  async function act(
    request: TargetRequest,
    attempt: number,
    page?: { target: TargetRow | undefined; recorder: Recorder; deferRead?: boolean; listed?: ListedState; resolved?: Map<string, string | null> },
    lean?: { target: TargetRow; recorder: Recorder },
  ): Promise<string> {
    const recorder = page?.recorder ?? lean?.recorder ?? eachAlone;
    const target = page ? page.target : (lean?.target ?? (await readTargets(request.system, [request])).get(rowKey(request)));
    if (!target) throw new Error(`no ${request.action} target for ${request.system} in event ${request.eventId}`);
    if (SETTLED.has(target.status) || (page && target.status === 'needs_attention')) return target.status;

    const connector = (page ? paced.waiting : paced.noting)[request.system];
    if (!connector) {
      throw ApplicationFailure.create({
        type: 'SystemNotConfigured',
        message: `${request.system} is not configured on this worker: set its base URL and credentials (see README).`,
        nonRetryable: true,
      });
    }
    if (dryRun(request.system)) {
      const lookup = await lookUpForDryRun(request, connector, target);
      await recorder.settle({ ...keyOf(request), identityId: target.identityId }, { status: 'dry_run', accountId: lookup.accountId, data: { wouldDo: request.action, attempt, ...lookup } });
      return 'dry_run';
    }

    const started = Date.now();
    let accountId = target.accountId;
    let newLink = false;
    const accepted = target.status === 'succeeded';
    // Whether the system has accepted the change (before this attempt or in it): a call failing
    // after that is the read-back, whose failure must not be recorded as a failed write.
    let acceptedNow = accepted;
    try {
      // Accepted by an earlier attempt whose read contradicted it: read again, never write again.
      if (accepted) {
        if (!connector.readAccount || !target.targetAccountId || page?.deferRead) return 'succeeded';
        return await readBack(request, target.identityId, connector, target.targetAccountId, attempt, recorder, page?.listed);
      }
      if (!accountId) {
        const resolved = page?.resolved?.get(target.identityId);
        accountId = resolved === undefined ? await connector.resolveAccount(snapshotOf(target)) : resolved;
        if (accountId === null) throw new AccountNotFoundError({ system: request.system, accountId: null, lookup: connector.lookup });
        // Linked in the same statement as the outcome (transitions.ts), not a round trip of its own.
        newLink = true;
      }
      const context = { idempotencyKey: idempotencyKeyFor(request) };
      if (request.action === 'deactivate') {
        await connector.deactivate(accountId, context);
      } else if ((await connector.reactivate(accountId, context)) === 'unsupported') {
        await recorder.settle({ ...keyOf(request), identityId: target.identityId }, {
          status: 'manual_action_required',
          accountId,
          newLink,
          data: { attempt, reason: `${request.system} cannot reactivate accounts through its API` },
        });
        return 'manual_action_required';
      }
      const key = { ...keyOf(request), identityId: target.identityId };
      const acceptance = { accountId, newLink, data: { accountId, attempt, durationMs: Date.now() - started, verification: connector.readAccount ? 'reading the account back' : NO_READ_API } };
      const settleVerified = recorder.settleVerified?.bind(recorder);
      if (!connector.readAccount || !settleVerified) {
        await recorder.settle(key, { status: 'succeeded', ...acceptance });
        acceptedNow = true;
        if (!connector.readAccount || page?.deferRead) return 'succeeded';
        return await readBack(request, target.identityId, connector, accountId, attempt, recorder);
      }
      // Written with the read that verifies it, dated now (decision 065). A crash before that write
      // leaves the target pending, as a crash before the acceptance's own write did: the retry acts
      // again with the same idempotency key, and the system changes nothing the second time.
      const acceptedAt = now();
      return await readBack(request, target.identityId, connector, accountId, attempt, recorder, undefined, {
        withVerification: (verification) =>
          settleVerified({ target: { ...key, generation: request.generation ?? 0 }, accepted: acceptance, acceptedAt, verified: { data: verification } }),
        async alone() {
          await recorder.settle(key, { status: 'succeeded', ...acceptance }, acceptedAt);
          acceptedNow = true;
        },
      });
    } catch (error) {
      // The read-back's own verdict, already recorded.
      if (error instanceof ApplicationFailure) throw error;
      const durationMs = Date.now() - started;
      if (error instanceof AccountNotFoundError) {
        // A write that failed never settled: accepted is known from the status read above, or from this run's settle.
        const wasAccepted = accepted || (await db.targetAction.count({ where: { ...keyOf(request), status: 'succeeded' } })) > 0;
        await settleNotFound(request, target.identityId, error, { attempt, durationMs }, wasAccepted, recorder);
        return 'not_found';
      }
      const downstream = isDownstreamError(error) ? error : undefined;
      // A read-back that failed (a 429 or 5xx on the read) is recorded on the accepted target, and
      // its retry honours the vendor's hint below exactly as a write's does (issue 14).
      await recordFailedAttempt(db, { ...keyOf(request), identityId: target.identityId }, {
        lastError: downstream?.vendorMessage ?? (error as Error).message,
        accountId,
        newLink,
        readBack: acceptedNow,
        data: {
          attempt,
          durationMs,
          error: (error as Error).name,
          message: (error as Error).message,
          status: downstream?.status ?? null,
          vendorMessage: downstream?.vendorMessage ?? null,
        },
      }, now());
      if (!downstream) throw error;
      throw ApplicationFailure.create({
        type: downstream.name,
        message: downstream.message,
        nonRetryable: downstream.name === 'PermanentDownstreamError',
        // The system's own rate-limit hint wins over the exponential backoff. A hint whose
        // moment has already passed is not "retry after 0 ms": the Temporal server reads a zero
        // delay as no retry at all, and the target would need attention after one 429.
        nextRetryDelay: downstream.retryAfterMs === undefined ? undefined : Math.max(MIN_RETRY_DELAY_MS, downstream.retryAfterMs),
        details: [{ status: downstream.status ?? null, vendorMessage: downstream.vendorMessage ?? null }],
      });
    }
  }

  const isFinal = finalOutcomeOf(connectors);
  const lookupSetting = lookupSettingOf(connectors);

  /** The target, and whether to act on it: the event begun (by this read or another's), ended, or not to act on. */
  async function beginAndRead(request: TargetRequest): Promise<{ target: TargetRow; verdict: 'act' | 'wait' | 'cancelled' }> {
    // The event's status as committed when a sibling began it since the snapshot (BEGIN_IF_FIRST's `latest`).
    const [row] = await sqlOf(db).prepared<TargetRow & { eventStatus: string; begun: boolean }>(BEGIN_AND_READ_TARGET, [
      ...beginIfFirstValues(request.eventId, now()),
      request.system,
      request.action,
    ]);
    if (!row) throw new Error(`no ${request.action} target for ${request.system} in event ${request.eventId}`);
    const verdict = beginVerdict({ status: row.eventStatus, begun: row.begun });
    return { target: row, verdict: verdict === 'wait' || verdict === 'cancelled' ? verdict : 'act' };
  }

  /**
   * The lean action's writes (decision 059): a target's last one (isFinal) is written by the
   * variant that answers its event as the end reads it, kept in `after` for finishEventIfSettled.
   */
  function answering(): Recorder & { after: EventAfterWrite | null } {
    const recorder: Recorder & { after: EventAfterWrite | null } = {
      after: null,
      async settle(target, outcome, at) {
        if (!isFinal({ system: target.system, status: outcome.status })) return eachAlone.settle(target, outcome, at);
        recorder.after = await settleFinalTarget(db, target, outcome, at ?? now());
      },
      async settleVerified(outcome) {
        recorder.after = await settleFinalVerifiedTarget(db, outcome, now());
      },
      async readBack(target, outcome) {
        if (outcome.status === 'read_contradicted') return eachAlone.readBack(target, outcome);
        // A final verdict counts no contradicting read: recordReadBack answers 1 for it too.
        recorder.after = await recordFinalReadBack(db, target, { ...outcome, status: outcome.status }, now());
        return 1;
      },
    };
    return recorder;
  }

  /** Each system's listing total as last seen, for the cost of the next listing. */
  const listedTotals = new Map<SystemName, number>();

  /**
   * The page's accepted accounts as one listing of the system's accounts shows them (decision 066),
   * where the vendor documents a listing that shows each account's state (Rocket.Chat users.list,
   * the user API's GET /v1/users) and the whole listing takes fewer calls than reading each account
   * (LIST_PAGE_MAX accounts a call): a directory of a few thousand accounts, not of many. The
   * listing stops once it has shown every account asked for, or once its total says it costs more
   * (that first call is not wasted: what it showed is used). An account it does not show (its
   * pages shift while they are read, or the account is gone) is read alone, as are all of them
   * when the listing fails: never verified without the vendor's answer for it.
   */
  async function listedStates(connector: Connector, system: SystemName, accountIds: Set<string>): Promise<Map<string, ListedState>> {
    const states = new Map<string, ListedState>();
    const cheaper = (total: number) => Math.ceil(total / LIST_PAGE_MAX) < accountIds.size;
    const known = listedTotals.get(system);
    if (!connector.listAccounts || accountIds.size < 2 || (known !== undefined && !cheaper(known))) return states;
    let total = known ?? 0;
    let seen = 0;
    try {
      const onTotal = (value: number) => {
        total = value;
        listedTotals.set(system, value);
      };
      for await (const accounts of connector.listAccounts({ pageSize: LIST_PAGE_MAX, onTotal })) {
        for (const account of accounts) if (accountIds.has(account.accountId)) states.set(account.accountId, { active: account.active });
        seen += accounts.length;
        // Past the last page the listing would take a slot for no call; past its cost, reads are cheaper.
        if (states.size === accountIds.size || seen >= total || !cheaper(total)) break;
      }
    } catch (error) {
      Context.current().log.warn('listing for the read-back failed; reading each account', { system, error: (error as Error).message });
    }
    return states;
  }

  /**
   * The accounts of a page's people not yet linked, found in one call a BATCH_LOOKUP_MAX where the
   * vendor documents a lookup of many (Mendix's POST /v1/uuids, decision 066), by identity id. A
   * failed batch leaves its people to be looked up one by one, as before.
   */
  async function resolvedTogether(connector: Connector, system: SystemName, targets: TargetRow[]): Promise<Map<string, string | null>> {
    const resolved = new Map<string, string | null>();
    const unlinked = targets.filter((target) => target.status === 'pending' && !target.accountId);
    if (!connector.resolveAccounts || unlinked.length < 2) return resolved;
    for (let start = 0; start < unlinked.length; start += BATCH_LOOKUP_MAX) {
      try {
        const batch = await connector.resolveAccounts(unlinked.slice(start, start + BATCH_LOOKUP_MAX).map(snapshotOf));
        for (const [identityId, accountId] of batch) resolved.set(identityId, accountId);
      } catch (error) {
        Context.current().log.warn('batched lookup failed; looking each person up', { system, error: (error as Error).message });
      }
    }
    return resolved;
  }

  return {
    applyTargetAction: heartbeating((request: TargetRequest): Promise<string> => act(request, Context.current().info.attempt)),

    /**
     * The lean path's target action (patch 'bookkeeping-in-target-actions', decision 055): the
     * event's start and end are no workflow steps of their own. The first of its target actions
     * to read begins the event, as beginIfFirst would (none acts before it is running, so a rehire
     * cancels either all of them or none); after its last write each one ends the event if every
     * target is final, so the last to commit ends it, reading the event in that write's own
     * statement where it can (decision 059). Run again, it finds its target settled and
     * the event ended, and answers the same.
     */
    applyLeanTargetAction: heartbeating(async (request: TargetRequest): Promise<LeanTargetResult> => {
      const { target, verdict } = await beginAndRead(request);
      if (verdict !== 'act') return { status: verdict, ended: false };
      const recorder = answering();
      const status = await act(request, Context.current().info.attempt, undefined, { target, recorder });
      const ended = await finishEventIfSettled(db, request.eventId, now(), isFinal, lookupSetting, recorder.after);
      return { status, ended: ended !== null };
    }),

    /**
     * An event's targets in the systems without a rate limit, in one activity on the workflow's
     * queue (decision 067): each acted on exactly as applyLeanTargetAction acts on it, side by
     * side, with the same begin, idempotency key, read-back, records and end. A rate limit is
     * what a system's own queue is for (decision 005); a system without one gains nothing from it
     * and costs the Temporal server an activity task, its dispatch and completion, and a workflow
     * task more per target. A failure that is final makes that target need attention, as the
     * workflow does after a failed activity; any other failure fails the activity after the
     * others are done, and its retry skips what they settled (their targets read as settled, the
     * one marked as needing attention included, as in a mass-release page).
     */
    applyLeanTargetsTogether: heartbeating(async ({ eventId, generation, targets }: LeanTargetsRequest): Promise<LeanTargetResult[]> => {
      const attempt = Context.current().info.attempt;
      const retrying: ApplicationFailure[] = [];
      let retryAfterMs: number | undefined;
      const results = await Promise.all(
        targets.map(async ({ system, action }): Promise<LeanTargetResult> => {
          const request = { eventId, system, action, generation };
          try {
            const { target, verdict } = await beginAndRead(request);
            if (verdict !== 'act') return { status: verdict, ended: false };
            if (target.status === 'needs_attention') return { status: 'needs_attention', ended: false };
            const recorder = answering();
            const status = await act(request, attempt, undefined, { target, recorder });
            const ended = await finishEventIfSettled(db, eventId, now(), isFinal, lookupSetting, recorder.after);
            return { status, ended: ended !== null };
          } catch (error) {
            const failure = error instanceof ApplicationFailure ? error : ApplicationFailure.create({ type: (error as Error).name, message: (error as Error).message });
            if (failure.nonRetryable) {
              // As the workflow's runLeanTarget words it after a failed activity (describeFailure).
              await markTargetNeedsAttention(db, { ...request, reason: `${failure.type ?? 'Error'}: ${failure.message}` }, now());
              return { status: 'needs_attention', ended: false };
            }
            retrying.push(failure);
            // act() sets the delay, in ms, only from a vendor's rate-limit hint: the soonest one wins.
            const delay = (failure as { nextRetryDelay?: unknown }).nextRetryDelay;
            if (typeof delay === 'number') retryAfterMs = Math.min(retryAfterMs ?? delay, delay);
            return { status: 'pending', ended: false };
          }
        }),
      );
      const [first] = retrying;
      if (first) {
        throw ApplicationFailure.create({
          type: first.type ?? undefined,
          message: retrying.length === 1 ? first.message : `${retrying.length} of ${targets.length} systems failed and will be retried; the first: ${first.message}`,
          nextRetryDelay: retryAfterMs,
        });
      }
      return results;
    }),

    /**
     * A mass-release page's accounts in one system (decision 048): each acted on as
     * applyTargetAction acts on it, with the same idempotency key and records, PAGE_CONCURRENCY at
     * a time. Every call takes the system's shared pace (decision 064), so the page calls the
     * vendor at JML_RATE_LIMIT_<SYSTEM> together with every other page and activity of this worker
     * (decision 005's per-queue limit counts this whole page as one activity). An account refused
     * with a 429 is recorded as a failed attempt, as alone, and acted on again once the pace's pause
     * (the vendor's hint) is over, within this attempt, up to PAGE_RATE_LIMIT_WAITS times. Any other
     * failure Temporal should retry fails the page after the others are done, and the retry skips
     * what they settled. A failure that is final makes that target need attention, as the
     * per-leaver workflow does.
     */
    applyTargetActions: heartbeating(async ({ system, items }: { system: SystemName; items: MassPageItem[] }): Promise<{ eventId: string; status: string }[]> => {
      const attempt = Context.current().info.attempt;
      let retryAfterMs: number | undefined;
      const retrying: ApplicationFailure[] = [];
      const outcomes = new Map<string, string>();
      // The page's targets in one read: nothing else changes a running event's targets meanwhile
      // (a rehire cancels only events not yet begun), and every write is conditional on the status read.
      const targets = await readTargets(system, items);
      const recorder = grouped();
      // Where the vendor documents a listing, the page's changes are read back after all of them
      // were sent, together (decision 066); otherwise each right after its own change.
      const connector = paced.waiting[system];
      const known = listedTotals.get(system);
      const deferRead =
        !dryRun(system) &&
        items.length > 1 &&
        connector?.readAccount !== undefined &&
        connector.listAccounts !== undefined &&
        (known === undefined || Math.ceil(known / LIST_PAGE_MAX) < items.length);
      const resolved = connector && !dryRun(system) ? await resolvedTogether(connector, system, [...targets.values()]) : new Map<string, string | null>();
      const actOn = async (item: MassPageItem, readPhase?: { targets: Map<string, TargetRow>; listed: Map<string, ListedState> }) => {
        const request = { eventId: item.eventId, system, action: item.action, generation: item.generation };
        for (let waits = 0; ; waits += 1) {
          try {
            // After a 429 the target is read again: the write may have been accepted before its read-back was refused.
            const target = waits === 0 ? (readPhase?.targets ?? targets).get(rowKey(item)) : (await readTargets(system, [item])).get(rowKey(item));
            const listed = target?.targetAccountId ? readPhase?.listed.get(target.targetAccountId) : undefined;
            outcomes.set(item.eventId, await act(request, attempt, { target, recorder, deferRead: deferRead && !readPhase, listed, resolved }));
            return;
          } catch (error) {
            const failure = error instanceof ApplicationFailure ? error : ApplicationFailure.create({ type: (error as Error).name, message: (error as Error).message });
            if (failure.nonRetryable) {
              await markTargetNeedsAttention(db, { ...request, reason: `${failure.type ?? 'Error'}: ${failure.message}` }, now());
              outcomes.set(item.eventId, 'needs_attention');
              return;
            }
            // The pace already holds this system's calls until the vendor's hint: act again when it lets this one go.
            if (isRateLimitFailure(failure) && waits < PAGE_RATE_LIMIT_WAITS) continue;
            retrying.push(failure);
            // act() sets the delay, in ms, only from a vendor's rate-limit hint.
            const delay = (failure as { nextRetryDelay?: unknown }).nextRetryDelay;
            if (typeof delay === 'number') retryAfterMs = Math.max(retryAfterMs ?? 0, delay);
            return;
          }
        }
      };
      const actOnAll = async (list: MassPageItem[], each: (item: MassPageItem) => Promise<void>) => {
        const queue = [...list];
        const worker = async () => {
          for (let item = queue.shift(); item; item = queue.shift()) await each(item);
        };
        await Promise.all(Array.from({ length: Math.min(PAGE_CONCURRENCY, list.length) }, worker));
      };
      await actOnAll(items, (item) => actOn(item));
      if (deferRead) {
        const accepted = items.filter((item) => outcomes.get(item.eventId) === 'succeeded');
        const readTargetsNow = accepted.length > 0 ? await readTargets(system, accepted) : new Map<string, TargetRow>();
        const accountIds = new Set([...readTargetsNow.values()].flatMap((target) => (target.status === 'succeeded' && target.targetAccountId ? [target.targetAccountId] : [])));
        const listed = await listedStates(connector, system, accountIds);
        await actOnAll(accepted, (item) => actOn(item, { targets: readTargetsNow, listed }));
      }
      const [first] = retrying;
      if (first) {
        const rateLimited = retrying.find(isRateLimitFailure);
        throw ApplicationFailure.create({
          type: (rateLimited ?? first).type ?? undefined,
          message: `${retrying.length} of ${items.length} accounts in ${system} failed and will be retried${rateLimited ? ' after the rate limit' : ''}; the first: ${(rateLimited ?? first).message}`,
          nextRetryDelay: retryAfterMs,
        });
      }
      return items.map((item) => ({ eventId: item.eventId, status: outcomes.get(item.eventId) ?? 'pending' }));
    }),
  };
}
