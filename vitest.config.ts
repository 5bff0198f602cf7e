import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Process-level fault tests run with `npm run test:faults` (vitest.faults.config.ts).
    exclude: ['test/faults/**', 'node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/support/fail-on-console-error.ts', 'test/support/held-logs.ts'],
    // Integration tests start Temporal workers; a worker's first workflow bundle takes seconds.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // A failure's details (minimal), then one line per area and the verdict (issue 17: a summary a
    // person can read). `npx vitest run --reporter=default` shows every file and test instead.
    reporters: ['minimal', './test/support/summary-reporter.ts'],
    // Logs at warn and above only, held per test: a failing test prints what jml said
    // (test/support/held-logs.ts), a passing one nothing.
    env: { LOG_LEVEL: 'warn' },
  },
});
