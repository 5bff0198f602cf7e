// `npm test`'s last lines: one line per area of jml (the test folder), so a person can read what
// was exercised and what failed without scrolling through every file. Vitest's `minimal` reporter
// before it prints the details of each failure; this only counts (Vitest reporter API,
// onTestRunEnd).
import type { Reporter, TestModule, TestRunEndReason } from 'vitest/node';

interface Area {
  files: number;
  passed: number;
  failed: string[];
  skipped: number;
  millis: number;
}

export default class SummaryReporter implements Reporter {
  private started = Date.now();

  onTestRunStart(): void {
    this.started = Date.now();
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>, reason: TestRunEndReason): void {
    const areas = new Map<string, Area>();
    for (const module of modules) {
      const parts = module.relativeModuleId.split(/[\\/]/);
      const name = parts.length > 2 ? parts[1]! : parts[0]!;
      const area = areas.get(name) ?? { files: 0, passed: 0, failed: [], skipped: 0, millis: 0 };
      area.files += 1;
      area.millis += module.diagnostic().duration;
      // A file that failed to load has no tests to count: it is a failure by itself.
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) area.failed.push(`${module.relativeModuleId} (did not load)`);
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') area.passed += 1;
        else if (state === 'failed') area.failed.push(`${module.relativeModuleId} > ${test.fullName}`);
        else area.skipped += 1;
      }
      areas.set(name, area);
    }
    const rows = [...areas.entries()].sort(([a], [b]) => a.localeCompare(b));
    const width = Math.max(...rows.map(([name]) => name.length), 4);
    const total = rows.reduce((sum, [, area]) => ({ passed: sum.passed + area.passed, failed: sum.failed + area.failed.length, skipped: sum.skipped + area.skipped }), { passed: 0, failed: 0, skipped: 0 });
    const lines = ['', 'jml test summary (area: tests passed, failed, skipped; files; time in the files)'];
    for (const [name, area] of rows) {
      const failed = area.failed.length > 0 ? `  ${area.failed.length} FAILED` : '';
      const skipped = area.skipped > 0 ? `  ${area.skipped} skipped` : '';
      lines.push(`  ${name.padEnd(width)}  ${String(area.passed).padStart(4)} passed${failed}${skipped}  (${area.files} file${area.files === 1 ? '' : 's'}, ${(area.millis / 1000).toFixed(0)} s)`);
    }
    // A run can fail with no failed test: the global setup, an unhandled error, an interruption.
    const verdict = total.failed > 0 ? `${total.failed} FAILED` : reason !== 'passed' || unhandledErrors.length > 0 ? `RUN ${reason === 'interrupted' ? 'INTERRUPTED' : 'FAILED'}: an error outside the tests (setup, or an unhandled error), shown above` : 'ALL PASSED';
    lines.push(`  ${verdict}: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped, ${modules.length} files, ${((Date.now() - this.started) / 1000).toFixed(0)} s`);
    for (const [, area] of rows) for (const failure of area.failed) lines.push(`  failed: ${failure}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
