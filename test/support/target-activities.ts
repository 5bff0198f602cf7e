// The target activities as a test drives them directly: against a test database and the given
// connectors, live (no dry run), the mass-deprovision guard off, the real clock.
import { createTargetActivities } from '../../src/activities/target-action.js';
import type { ActivityDependencies } from '../../src/activities/index.js';
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
