// Temporal activities, built by a factory that receives their clients, so tests hand in what they
// need without module mocking (the Temporal samples' money-transfer pattern).
import type { Connector, SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { createBookkeepingActivities, type GuardSettings } from './bookkeeping.js';
import { createIdleSweepActivities } from './idle-sweep.js';
import { createMassReleaseActivities } from './mass-release.js';
import { createReconcileActivities, type ReconcileSettings } from './reconcile.js';
import { createTargetActivities } from './target-action.js';

export interface ActivityDependencies {
  db: Database;
  connectors: Partial<Record<SystemName, Connector>>;
  /** Systems for which nothing is sent: the audit says what would have been done. */
  dryRun: (system: SystemName) => boolean;
  logger: Logger;
  guard: GuardSettings;
  /** So many "account not found" answers from one system within the window need attention (default 3 an hour). */
  notFoundBurst?: { count: number; windowMs: number };
  now?: () => Date;
  /**
   * Actions per second each system allows (the system queues' limits, decision 005): a mass-release
   * page, one activity for many accounts, paces its own calls to them (decision 048).
   */
  rateLimits?: Partial<Record<SystemName, number>>;
  /** Reconciliation's remediation (docs/decisions/022-reconciliation.md); reports only without it. */
  reconcile?: ReconcileSettings;
}

export type { GuardSettings };

export function createActivities(deps: ActivityDependencies) {
  const withClock = { ...deps, now: deps.now ?? (() => new Date()) };
  return {
    ...createBookkeepingActivities(withClock),
    ...createTargetActivities(withClock),
    ...createMassReleaseActivities(withClock),
    ...createIdleSweepActivities(withClock),
    ...createReconcileActivities(withClock),
  };
}

export type Activities = ReturnType<typeof createActivities>;
