// The targets jml cannot finish on its own (issue 14), across events, newest first: those that need
// attention, those a system answered "no such account" to, and the manual actions (a rehire's
// Mendix reactivation), each with the step an operator takes (next-step.ts). The operator page
// and `jml events todo` list them; an event's own page and `jml events show` say the same per
// event. A completed rehire's manual action would otherwise scroll out of "Recently completed".
import type { Database } from '../db/client.js';
import { sqlOf } from '../db/sql.js';
import { nextStep } from './next-step.js';

export const TO_DO_STATUSES = ['needs_attention', 'not_found', 'manual_action_required'] as const;
/** Nothing marks a manual action done in jml, so the list looks back this far by default. */
export const TO_DO_DEFAULT_DAYS = 30;
export const TO_DO_LIMIT = 200;

export interface TargetToDo {
  eventId: string;
  eventKind: string;
  eventStatus: string;
  identityId: string;
  userName: string;
  system: string;
  action: string;
  status: string;
  accountId: string | null;
  lastError: string | null;
  updatedAt: Date;
  nextStep: string;
}

export async function targetsToDo(db: Database, options: { since?: Date; limit?: number; now?: Date } = {}): Promise<TargetToDo[]> {
  const since = options.since ?? new Date((options.now ?? new Date()).getTime() - TO_DO_DEFAULT_DAYS * 86_400_000);
  const rows = await sqlOf(db).query<Omit<TargetToDo, 'nextStep'>>(
    `SELECT e.id AS "eventId", e.kind::text AS "eventKind", e.status::text AS "eventStatus", i.id AS "identityId", i.user_name AS "userName",
            t.system, t.action::text AS action, t.status::text AS status, t.account_id AS "accountId", t.last_error AS "lastError", t.updated_at AS "updatedAt"
     FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id JOIN identity i ON i.id = e.identity_id
     WHERE t.status::text = ANY($1::text[]) AND t.updated_at >= $2 AND e.status <> 'cancelled'
     ORDER BY t.updated_at DESC, e.id, t.system
     LIMIT $3`,
    [[...TO_DO_STATUSES], since, Math.min(options.limit ?? TO_DO_LIMIT, TO_DO_LIMIT)],
  );
  return rows.map((row) => ({ ...row, nextStep: nextStep(row.eventId, row) ?? '' }));
}
