// The target activities as a test drives them directly: against a test database and the given
// connectors, live (no dry run), the mass-deprovision guard off, the real clock.
import { createTargetActivities } from '../../src/activities/target-action.js';
import type { ActivityDependencies } from '../../src/activities/index.js';
import type { AccountState, Connector, SystemName } from '../../src/connectors/types.js';
import { logger } from '../../src/logger.js';

export function targetActivitiesForTest(db: ActivityDependencies['db'], connectors: ActivityDependencies['connectors']): ReturnType<typeof createTargetActivities> {
  return createTargetActivities({
    db,
    connectors,
    dryRun: () => false,
    logger,
    guard: { enabled: false, windowMs: 3_600_000, maxLeavers: 20, maxShare: 0.1, minLeaversForShare: 5 },
    now: () => new Date(),
  });
}

/**
 * A connector that finds each person's account as `<system>-<userName>`, deactivates with
 * `deactivate` and reads with `read`; without `read` a system with no read (as Mendix).
 */
export function fakeConnector(system: SystemName, options: { deactivate: (accountId: string) => Promise<void>; read?: (accountId: string) => Promise<AccountState> }): Connector {
  return {
    system,
    lookup: `${system.toUpperCase()}_LOOKUP=userName`,
    resolveAccount: (identity) => Promise.resolve(`${system}-${identity.userName}`),
    deactivate: options.deactivate,
    reactivate: () => Promise.resolve('unsupported'),
    lookupValueOf: (identity) => identity.userName,
    ...(options.read ? { readAccount: options.read } : {}),
  };
}
