// `npm run test:faults`: process-level fault tests (kill -9, restarts). Same infrastructure as the
// main suite; kept apart because they take minutes, not seconds. (Spread, not mergeConfig, which
// would concatenate the include and exclude lists.)
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/faults/**/*.test.ts'],
    exclude: ['node_modules/**'],
    // The 1,000-leaver kill -9 test takes about 4 min on a quiet 2-core machine and 7.5 under load
    // average 18; its settling waits as long as the run makes progress (waitUntilSettled).
    testTimeout: 1_200_000,
    fileParallelism: false,
  },
});
