// The activity that acts on one downstream system: find the account, disable or enable it, and
// record the outcome. Runs on the system's own task queue (docs/decisions/005).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { isDownstreamError } from '../connectors/errors.js';
import type { IdentitySnapshot, SystemName } from '../connectors/types.js';
import { TARGET_ACTION_HEARTBEAT_TIMEOUT_MS, type TargetActionKind } from '../../workflows/contract.js';
import { sqlOf } from '../db/sql.js';
import { SETTLED_TARGET, type TargetOutcomeStatus } from '../lifecycle/plan.js';
import { recordFailedAttempt, settleTarget } from '../lifecycle/transitions.js';
import type { ActivityDependencies } from './index.js';

type Deps = ActivityDependencies & { now: () => Date };

/** The shortest wait before retrying after a rate-limit answer. */
const MIN_RETRY_DELAY_MS = 100;

/** Statuses after which repeating the activity must not call the system again. */
const SETTLED = new Set<string>(SETTLED_TARGET);

export interface TargetRequest {
  eventId: string;
  system: SystemName;
  action: TargetActionKind;
  /** 0 for the event's first run, then one more for each operator retry. */
  generation?: number;
}

/** The target with what acting on it needs: its identity and the account already linked, if any. */
interface TargetRow {
  status: string;
  identityId: string;
  userName: string;
  externalId: string | null;
  email: string | null;
  employeeNumber: string | null;
  resource: Record<string, unknown>;
  accountId: string | null;
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
 * Heartbeats while the activity runs, so the server knows the attempt is alive while it waits on a
 * slow system or database, and retries it soon after its worker dies.
 */
function heartbeating<A extends unknown[], R>(activity: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
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

export function createTargetActivities({ db, connectors, dryRun, now }: Deps) {
  function settle(
    request: TargetRequest,
    identityId: string,
    outcome: { status: TargetOutcomeStatus; accountId?: string | null; newLink?: boolean; data: Record<string, unknown> },
  ) {
    return settleTarget(db, { ...keyOf(request), identityId }, outcome, now());
  }

  return {
    applyTargetAction: heartbeating(async (request: TargetRequest): Promise<string> => {
      // One joined read through pg (decision 019): as nested includes Prisma sends a query per
      // relation, four per action.
      const [target] = await sqlOf(db).query<TargetRow>(
        `SELECT t.status::text AS status, i.id AS "identityId", i.user_name AS "userName", i.external_id AS "externalId",
                i.email, i.employee_number AS "employeeNumber", i.resource, a.account_id AS "accountId"
         FROM target_action t
         JOIN lifecycle_event e ON e.id = t.event_id
         JOIN identity i ON i.id = e.identity_id
         LEFT JOIN account_link a ON a.identity_id = i.id AND a.system = t.system
         WHERE t.event_id = $1::uuid AND t.system = $2 AND t.action = $3::action_kind`,
        [request.eventId, request.system, request.action],
      );
      if (!target) throw new Error(`no ${request.action} target for ${request.system} in event ${request.eventId}`);
      if (SETTLED.has(target.status)) return target.status;
      const attempt = Context.current().info.attempt;

      const connector = connectors[request.system];
      if (!connector) {
        throw ApplicationFailure.create({
          type: 'SystemNotConfigured',
          message: `${request.system} is not configured on this worker: set its base URL and credentials (see README).`,
          nonRetryable: true,
        });
      }
      if (dryRun(request.system)) {
        await settle(request, target.identityId, { status: 'dry_run', data: { wouldDo: request.action, attempt } });
        return 'dry_run';
      }

      const started = Date.now();
      let accountId = target.accountId;
      let newLink = false;
      try {
        if (!accountId) {
          accountId = await connector.resolveAccount(snapshotOf(target));
          if (accountId === null) {
            await settle(request, target.identityId, { status: 'account_not_found', data: { attempt, durationMs: Date.now() - started } });
            return 'account_not_found';
          }
          // Linked in the same statement as the outcome (transitions.ts), not a round trip of its own.
          newLink = true;
        }
        const context = { idempotencyKey: idempotencyKeyFor(request) };
        if (request.action === 'deactivate') {
          await connector.deactivate(accountId, context);
        } else if ((await connector.reactivate(accountId, context)) === 'unsupported') {
          await settle(request, target.identityId, {
            status: 'manual_action_required',
            accountId,
            newLink,
            data: { attempt, reason: `${request.system} cannot reactivate accounts through its API` },
          });
          return 'manual_action_required';
        }
        await settle(request, target.identityId, { status: 'succeeded', accountId, newLink, data: { accountId, attempt, durationMs: Date.now() - started } });
        return 'succeeded';
      } catch (error) {
        const durationMs = Date.now() - started;
        const downstream = isDownstreamError(error) ? error : undefined;
        await recordFailedAttempt(db, { ...keyOf(request), identityId: target.identityId }, {
          lastError: downstream?.vendorMessage ?? (error as Error).message,
          accountId,
          newLink,
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
    }),
  };
}
