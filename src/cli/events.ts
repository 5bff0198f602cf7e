// `jml events list|show|retry|approve|reject`: the operator API's actions from a shell. Writes go
// straight to the database through src/lifecycle/operations.ts; the running jml's outbox relay
// delivers the signals and starts within its poll interval (JML_OUTBOX_POLL_MS).
import { nextStep } from '../lifecycle/next-step.js';
import { z } from 'zod';
import type { Database } from '../db/client.js';
import {
  approveAllHeld,
  approveEvent,
  getEvent,
  listEvents,
  rejectEvent,
  retryEvent,
  type Approved,
  type EventDetail,
  type EventView,
} from '../lifecycle/operations.js';
import { TO_DO_DEFAULT_DAYS, targetsToDo } from '../lifecycle/to-do.js';
import { defaultOperator } from './operator.js';

export const EVENTS_USAGE = `Usage: jml events <action>
  jml events list [--identity <scim id>] [--kind <kind>] [--status <status>] [--since <iso>] [--until <iso>] [--limit <n>] [--cursor <c>] [--json]
  jml events show <event id> [--json]
  jml events todo [--since <iso>] [--limit <n>] [--json]   targets to finish by hand (default: the last 30 days)
  jml events retry <event id> [--system rocketchat|mendix|userapi]
  jml events approve <event id> | --all-held
  jml events reject <event id> [--reason <text>]
Changes are recorded as --as <operator name> (default: your OS user name).
`;

export interface EventsArgs {
  action: string;
  /** JML_APPROVALS_REQUIRED (default 1). */
  approvalsRequired?: number;
  /** JML_MASS_RELEASE_THRESHOLD: approving more held events than this runs them in one mass-release workflow. */
  massReleaseThreshold?: number;
  /** The event id, for show, retry, approve and reject. */
  target?: string;
  identity?: string;
  kind?: string;
  status?: string;
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
  system?: string;
  reason?: string;
  as?: string;
  allHeld?: boolean;
  json?: boolean;
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};


const DELIVERY_NOTE = 'The running jml delivers it within its outbox poll interval.\n';

function approvalLine(event: Approved, by: string): string {
  if (event.released) return `Approved ${event.eventId} as ${by}${event.approvedBy.length > 1 ? ` (approved by ${event.approvedBy.join(' and ')})` : ''}.\n`;
  return `Recorded ${by}'s approval of ${event.eventId}: it stays held until a different operator approves it (JML_APPROVALS_REQUIRED=${event.approvalsRequired}).\n`;
}

function iso(date: Date | null): string {
  return date ? date.toISOString() : '-';
}

function summaryLine(event: EventView): string {
  const targets = event.targets.map((target) => `${target.system}=${target.status}`).join(' ');
  return `${event.id}  ${event.kind.padEnd(7)}  ${event.status.padEnd(15)}  ${iso(event.createdAt)}  identity ${event.identityId}  ${targets}\n`;
}

function detailText(event: EventDetail): string {
  const lines = [
    `event       ${event.id}`,
    `kind        ${event.kind}`,
    `status      ${event.status}`,
    `identity    ${event.identityId}`,
    `actor       ${event.actor}`,
    `created     ${iso(event.createdAt)}`,
    `effective   ${iso(event.effectiveAt)}`,
    `completed   ${iso(event.completedAt)}`,
    ...(event.firstApprovedBy && event.status === 'held' ? [`approval   by ${event.firstApprovedBy}; releasing it needs a different operator`] : []),
    'targets:',
    ...event.targets.map(
      (target) =>
        `  ${target.system.padEnd(10)} ${target.action.padEnd(10)} ${target.status.padEnd(22)} attempts ${target.attempts}  account ${target.accountId ?? '-'}  confirmed ${iso(target.confirmedAt)}${target.lastError ? `\n    last error: ${target.lastError}` : ''}${nextStep(event.id, target) ? `\n    to do: ${nextStep(event.id, target)}` : ''}`,
    ),
    'workflow runs:',
    ...event.runs.map((run) => `  ${run.workflowId}  recorded ${iso(run.createdAt)}  started ${iso(run.dispatchedAt)}`),
  ];
  return `${lines.join('\n')}\n`;
}

async function run(db: Database, args: EventsArgs, io: Output): Promise<number> {
  const by = args.as ?? defaultOperator();
  const needsId = (): string | undefined => {
    if (!args.target) io.err(`jml events ${args.action} needs an event id.\n${EVENTS_USAGE}`);
    return args.target;
  };
  switch (args.action) {
    case 'list': {
      const page = await listEvents(db, {
        identityId: args.identity,
        kind: args.kind,
        status: args.status,
        since: args.since,
        until: args.until,
        limit: args.limit,
        cursor: args.cursor,
      });
      if (args.json) io.out(`${JSON.stringify(page, null, 2)}\n`);
      else {
        for (const event of page.events) io.out(summaryLine(event));
        if (page.events.length === 0) io.out('No events match.\n');
        if (page.nextCursor) io.out(`More: --cursor ${page.nextCursor}\n`);
      }
      return 0;
    }
    case 'todo': {
      const since = args.since === undefined ? undefined : new Date(args.since);
      const limit = args.limit === undefined ? undefined : Number(args.limit);
      if ((since && Number.isNaN(since.getTime())) || (limit !== undefined && !(Number.isInteger(limit) && limit > 0))) {
        io.err(`--since must be an ISO 8601 date and --limit a positive whole number.\n${EVENTS_USAGE}`);
        return 2;
      }
      const toDo = await targetsToDo(db, { since, limit });
      if (args.json) io.out(`${JSON.stringify({ targets: toDo }, null, 2)}\n`);
      else {
        for (const target of toDo) {
          io.out(
            `${iso(target.updatedAt)}  ${target.userName}  ${target.system} ${target.action} ${target.status}  (${target.eventKind} ${target.eventId}, ${target.eventStatus})${target.lastError ? `\n    last error: ${target.lastError}` : ''}\n    to do: ${target.nextStep}\n`,
          );
        }
        if (toDo.length === 0) io.out(`Nothing to do by hand${since ? ` since ${since.toISOString()}` : ` in the last ${TO_DO_DEFAULT_DAYS} days`}.\n`);
      }
      return 0;
    }
    case 'show': {
      const id = needsId();
      if (!id) return 2;
      const event = await getEvent(db, id);
      io.out(args.json ? `${JSON.stringify(event, null, 2)}\n` : detailText(event));
      return 0;
    }
    case 'approve': {
      if (args.allHeld) {
        if (args.target) {
          io.err(`Give an event id or --all-held, not both.\n${EVENTS_USAGE}`);
          return 2;
        }
        const { approved, massReleaseWorkflowId } = await approveAllHeld(db, { by, approvalsRequired: args.approvalsRequired, massReleaseThreshold: args.massReleaseThreshold });
        for (const event of approved) io.out(approvalLine(event, by));
        if (massReleaseWorkflowId) io.out(`Released as one mass release: workflow ${massReleaseWorkflowId} (JML_MASS_RELEASE_THRESHOLD).\n`);
        io.out(approved.length === 0 ? 'No event is held.\n' : DELIVERY_NOTE);
        return 0;
      }
      const id = needsId();
      if (!id) return 2;
      const approved = await approveEvent(db, { eventId: id, by, approvalsRequired: args.approvalsRequired });
      io.out(approved.released ? `Approved ${approved.eventId} as ${by}. ${DELIVERY_NOTE}` : approvalLine(approved, by));
      return 0;
    }
    case 'reject': {
      const id = needsId();
      if (!id) return 2;
      const rejected = await rejectEvent(db, { eventId: id, by, reason: args.reason });
      io.out(`Rejected ${rejected.eventId} as ${by}: nothing will be sent downstream. ${DELIVERY_NOTE}`);
      return 0;
    }
    case 'retry': {
      const id = needsId();
      if (!id) return 2;
      const retried = await retryEvent(db, { eventId: id, by, system: args.system });
      const targets = retried.targets.map((target) => `${target.system} ${target.action}`).join(', ');
      io.out(`Retrying ${targets} of ${retried.eventId} as ${by} (workflow ${retried.workflowId}). ${DELIVERY_NOTE}`);
      return 0;
    }
    default:
      io.err(EVENTS_USAGE);
      return 2;
  }
}

/** Exit codes: 0 done, 1 refused (unknown event, wrong state), 2 bad arguments. */
export async function eventsCommand(db: Database, args: EventsArgs, io: Output = processOutput): Promise<number> {
  try {
    return await run(db, args, io);
  } catch (error) {
    if (error instanceof z.ZodError) {
      const flagOf = (path: PropertyKey[]) => (path.length === 0 ? 'event id' : `--${path[0] === 'identityId' ? 'identity' : String(path[0])}`);
      const fields = error.issues.map((issue) => `  ${flagOf(issue.path)}: ${issue.message}`);
      io.err(`Invalid arguments:\n${fields.join('\n')}\n`);
      return 2;
    }
    const name = (error as Error | null)?.name;
    if (name === 'EventNotFound' || name === 'EventNotInState' || name === 'EventSuperseded') {
      io.err(`${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
