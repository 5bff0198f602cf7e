// The idle-user sweep (docs/decisions/042-idle-sweep-records-each-person.md): Rocket.Chat's
// users.deactivateIdle deactivates every idle user of a role in one call and answers only a count
// (seeds/rocketchat-users-deactivateIdle.md). So jml previews who it would deactivate from the
// documented listing (users.list: `active`, `roles`, `lastLogin`), holds the sweep for an
// operator when the preview is over the guard's threshold, and after the call reads the listing
// again to record each person it deactivated: one audit row each, on that person's evidence.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { appendAudit, type AuditEntry } from '../audit/append.js';
import type { Connector, ListedAccount } from '../connectors/types.js';
import { LookupNotMatchable, matchPage, matchStatement } from '../reconcile/match.js';
import type { ActivityDependencies } from './index.js';

type Deps = ActivityDependencies & { now: () => Date };

const DAY_MS = 86_400_000;

export interface IdleSweepRequest {
  daysIdle: number;
  role: string;
}

/** An account the sweep would deactivate, and whose it is (null: no identity matches it). */
export interface IdleCandidate {
  accountId: string;
  identityId: string | null;
  lastLogin: string;
}

export interface IdleSweepPreview {
  dryRun: boolean;
  /** Over the guard's threshold: the sweep waits for an operator's approve or reject signal. */
  hold: boolean;
  candidates: IdleCandidate[];
}

interface IdleSweeper extends Connector {
  deactivateIdle(request: IdleSweepRequest): Promise<{ count: number }>;
  listAccounts: NonNullable<Connector['listAccounts']>;
}

function sweeperOf(connector: Connector | undefined): IdleSweeper {
  if (typeof (connector as Partial<IdleSweeper> | undefined)?.deactivateIdle !== 'function' || !connector?.listAccounts) {
    throw ApplicationFailure.create({ type: 'SystemNotConfigured', message: 'Rocket.Chat is not configured on this worker: set ROCKETCHAT_URL and its credentials.', nonRetryable: true });
  }
  return connector as IdleSweeper;
}

/** What users.deactivateIdle selects: active, of the role, last logged in on or before the cut-off (never: left alone). */
function isIdle(account: ListedAccount, request: IdleSweepRequest, cutoff: number): account is ListedAccount & { lastLogin: string } {
  if (account.roles === undefined) {
    throw ApplicationFailure.create({
      type: 'IdleSweepNotPreviewable',
      message: "Rocket.Chat's users.list shows no roles: the sweep cannot be previewed, so it is not run. Give jml's Rocket.Chat user the view-full-other-user-info permission.",
      nonRetryable: true,
    });
  }
  return account.active && account.roles.includes(request.role) && typeof account.lastLogin === 'string' && Date.parse(account.lastLogin) <= cutoff;
}

export function createIdleSweepActivities({ db, connectors, dryRun, guard, now }: Deps) {
  /** Every account the sweep would deactivate now, matched to identities page by page. */
  async function candidatesOf(sweeper: IdleSweeper, request: IdleSweepRequest): Promise<IdleCandidate[]> {
    const cutoff = now().getTime() - request.daysIdle * DAY_MS;
    let statement: string | null;
    try {
      statement = matchStatement(sweeper.lookupAttribute);
    } catch (error) {
      // A lookup by a SCIM path cannot be matched in bulk: the people are recorded by account only.
      if (!(error instanceof LookupNotMatchable)) throw error;
      statement = null;
    }
    const candidates: IdleCandidate[] = [];
    for await (const page of sweeper.listAccounts()) {
      const idle = page.filter((account) => isIdle(account, request, cutoff));
      const matches = statement && idle.length > 0 ? await matchPage(db, statement, 'rocketchat', idle, now()) : [];
      const byIndex = new Map(matches.map((match) => [match.index, match.identityId]));
      idle.forEach((account, index) => candidates.push({ accountId: account.accountId, identityId: byIndex.get(index) ?? null, lastLogin: account.lastLogin }));
      Context.current().heartbeat();
    }
    return candidates;
  }

  /** The accounts among `ids` that the listing shows, with their state now (the read-back). */
  async function statesOf(sweeper: IdleSweeper, ids: ReadonlySet<string>): Promise<Map<string, boolean>> {
    const states = new Map<string, boolean>();
    for await (const page of sweeper.listAccounts()) {
      for (const account of page) if (ids.has(account.accountId)) states.set(account.accountId, account.active);
      Context.current().heartbeat();
    }
    return states;
  }

  async function record(entries: AuditEntry[]): Promise<void> {
    await db.$transaction((tx) => appendAudit(tx, entries, now()), { timeout: 60_000 });
  }

  return {
    /** Who the sweep would deactivate, recorded; whether it must wait for an operator. */
    async previewIdleSweep(request: IdleSweepRequest & { workflowId: string }): Promise<IdleSweepPreview> {
      const sweeper = sweeperOf(connectors.rocketchat);
      const dry = dryRun('rocketchat');
      const candidates = await candidatesOf(sweeper, request);
      // The leavers' threshold (decision 041): more people than a burst of leavers may lose access unseen.
      const hold = !dry && guard.enabled && candidates.length > guard.maxLeavers;
      const action = dry ? 'rocketchat.idle_sweep.dry_run' : hold ? 'rocketchat.idle_sweep.held' : 'rocketchat.idle_sweep.previewed';
      await record([{
        actor: 'system',
        action,
        system: 'rocketchat',
        data: {
          workflowId: request.workflowId, daysIdle: request.daysIdle, role: request.role, wouldDeactivate: candidates.length,
          ...(hold ? { maxLeavers: guard.maxLeavers, approveWith: `npx jml idle-sweep approve ${request.workflowId}` } : {}),
          accounts: candidates,
        },
      }]);
      return { dryRun: dry, hold, candidates };
    },

    /**
     * The sweep itself, then the read-back: one audit row per previewed person with what the
     * listing shows now. Without a preview (a sweep started before previews existed) it
     * previews first.
     */
    async sweepIdleRocketChatUsers(request: IdleSweepRequest & { workflowId?: string; candidates?: IdleCandidate[]; approvedBy?: string }): Promise<{ count: number; dryRun: boolean; confirmed: number }> {
      const sweeper = sweeperOf(connectors.rocketchat);
      if (dryRun('rocketchat')) return { count: 0, dryRun: true, confirmed: 0 };
      const candidates = request.candidates ?? (await candidatesOf(sweeper, request));
      const started = Date.now();
      const { count } = await sweeper.deactivateIdle({ daysIdle: request.daysIdle, role: request.role });
      const states = await statesOf(sweeper, new Set(candidates.map((candidate) => candidate.accountId)));
      const readBack = (accountId: string) => {
        const active = states.get(accountId);
        return active === undefined ? 'gone' : active ? 'still_active' : 'inactive';
      };
      const people: AuditEntry[] = candidates.map((candidate) => {
        const state = readBack(candidate.accountId);
        return {
          actor: request.approvedBy ?? 'system',
          action: state === 'inactive' ? 'rocketchat.idle_sweep.deactivated' : 'rocketchat.idle_sweep.not_deactivated',
          identityId: candidate.identityId ?? undefined,
          system: 'rocketchat',
          data: {
            workflowId: request.workflowId ?? null, accountId: candidate.accountId, lastLogin: candidate.lastLogin, readBack: state,
            proof: state === 'inactive' ? 'users.list shows the account inactive after users.deactivateIdle' : state === 'gone' ? 'users.list no longer shows the account' : 'users.list shows the account still active (a login since the preview?)',
          },
        };
      });
      const confirmed = candidates.filter((candidate) => readBack(candidate.accountId) === 'inactive').length;
      await record([
        ...people,
        {
          actor: request.approvedBy ?? 'system',
          action: 'rocketchat.idle_sweep.completed',
          system: 'rocketchat',
          data: {
            workflowId: request.workflowId ?? null, daysIdle: request.daysIdle, role: request.role, deactivated: count, previewed: candidates.length, confirmed,
            // users.deactivateIdle names nobody: a user who went idle between the preview and the call is counted, not named.
            unnamed: Math.max(0, count - confirmed),
            durationMs: Date.now() - started,
          },
        },
      ]);
      return { count, dryRun: false, confirmed };
    },
  };
}
