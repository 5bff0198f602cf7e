// jml's log lines during a test are held, and printed only when the test fails: a passing test
// that provokes a vendor's 403 or a lost database on purpose prints nothing (issue 17), while a
// failing one shows everything jml said while it ran (LOG_LEVEL=warn, vitest.config.ts).
import { afterAll, beforeEach } from 'vitest';
import { holdLogs } from '../../src/logger.js';

let lines: string[] = [];
holdLogs({ write: (line: string) => lines.push(line) });

beforeEach(({ onTestFailed, task }) => {
  // What was logged before this test (a file's beforeAll, an earlier test's stragglers) is not its.
  lines = [];
  onTestFailed(() => {
    if (lines.length === 0) return;
    process.stderr.write(`--- jml's log during "${task.name}" (${lines.length} lines) ---\n${lines.join('')}--- end of jml's log ---\n`);
  });
});

afterAll(() => {
  lines = [];
});
