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
    testTimeout: 300_000,
    fileParallelism: false,
  },
});
