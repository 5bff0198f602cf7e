// `jml hr import <file.csv> --mapping <mapping.json> [--dry-run]`: HR changes from a CSV export
// (src/hr/import.ts). Every row is checked first; a row that cannot be applied refuses the file.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Principal } from '../auth/tokens.js';
import { CsvFormatError, importHrChanges, MAX_IMPORT_BYTES, rowChangeSummary, type ImportReport } from '../hr/import.js';
import { MappingError, parseMappingText } from '../hr/mapping.js';
import type { ScimDependencies } from '../scim/users.js';
import type { Output } from './events.js';
import { defaultOperator } from './operator.js';

export const HR_USAGE = `Usage: jml hr import <file.csv> --mapping <mapping.json> [--dry-run] [--json] [--as <operator>]
  Applies HR changes (leavers, termination dates, movers) from a CSV export. --dry-run shows what
  would change and applies nothing. A row that cannot be applied refuses the whole file.
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const show = (value: unknown) => (value === null || value === undefined ? '–' : value instanceof Date ? value.toISOString() : JSON.stringify(value).replace(/^"|"$/g, ''));

export function reportText(report: ImportReport): string {
  const lines = [`${report.file.name} (sha256 ${report.file.sha256.slice(0, 16)}…): ${report.file.rows} rows`];
  if (report.errors.length > 0) {
    lines.push(`${report.errors.length} row${report.errors.length === 1 ? '' : 's'} cannot be applied, so nothing was applied:`);
    for (const error of report.errors) lines.push(`  line ${error.line}: ${error.reason}`);
    return `${lines.join('\n')}\n`;
  }
  const count = (kind: string, future?: boolean) => report.changes.filter((change) => change.kind === kind && (future === undefined || (change.effectiveAt !== null) === future)).length;
  lines.push(
    `${report.dryRun ? 'Would change' : 'Changes'}: ${report.changes.length} (leavers now ${count('leaver', false)}, future leavers ${count('leaver', true)}, movers ${count('mover', false)}, dated movers ${count('mover', true)}, rehires ${count('rehire', false)}, dated rehires ${count('rehire', true)}, withdrawn termination dates ${count('withdrawn')}, other updates ${count('update')}); unchanged: ${report.unchanged}`,
  );
  for (const change of report.changes) {
    const what = rowChangeSummary(change);
    const diff = Object.entries(change.changes).map(([key, { from, to }]) => `${key}: ${show(from)} -> ${show(to)}`).join(', ');
    lines.push(`  line ${change.line}  ${change.userName}  ${what}  ${diff}`);
  }
  if (report.dryRun) lines.push('Dry run: nothing was applied.');
  else {
    lines.push(`Applied ${report.applied} row${report.applied === 1 ? '' : 's'}; the running jml starts their workflows within its outbox poll interval.`);
    for (const failure of report.failed) lines.push(`  line ${failure.line} FAILED: ${failure.reason}`);
    if (report.failed.length > 0) lines.push('Each failed row was left as it was; importing the same file again applies them and changes nothing else.');
  }
  return `${lines.join('\n')}\n`;
}

/** Exit codes: 0 applied (or a clean dry run), 1 rows refused or failed, 2 bad arguments, mapping or file. */
export async function hrCommand(
  intake: () => ScimDependencies,
  args: { action: string; file?: string; mapping?: string; dryRun?: boolean; json?: boolean; as?: string },
  io: Output = processOutput,
): Promise<number> {
  if (args.action !== 'import' || !args.file || !args.mapping) {
    io.err(HR_USAGE);
    return 2;
  }
  try {
    const mapping = parseMappingText(readFileSync(args.mapping, 'utf8'), args.mapping);
    const size = statSync(args.file).size;
    if (size > MAX_IMPORT_BYTES) throw new CsvFormatError(`${args.file} is ${size} bytes; at most ${MAX_IMPORT_BYTES} are imported at once: split it`);
    const principal: Principal = { tokenId: 'cli', name: args.as ?? defaultOperator(), kind: 'operator' };
    const report = await importHrChanges(intake(), { csv: readFileSync(args.file), mapping, fileName: path.basename(args.file), dryRun: args.dryRun ?? false, principal });
    io.out(args.json ? `${JSON.stringify(report, null, 2)}\n` : reportText(report));
    return report.errors.length > 0 || report.failed.length > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof MappingError || error instanceof CsvFormatError) {
      io.err(`${error.message}\n`);
      return 2;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      io.err(`${(error as Error).message}\n`);
      return 2;
    }
    throw error;
  }
}
