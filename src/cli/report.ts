// `jml report deprovisioning`: the time-to-deprovision report at a shell, as a table, JSON or CSV.
import { z } from 'zod';
import { deprovisioningReport, REPORT_FORMATS, reportCsv, reportJson, reportText, reportWindowSchema } from '../audit/report.js';
import type { Database } from '../db/client.js';
import type { Output } from './events.js';

export const REPORT_USAGE = `Usage: jml report deprovisioning [--from <date>] [--to <date>] [--format text|json|csv]
  Time to deprovision per leaver and system, p50/p95/max per system, leavers over the SLA
  (JML_DEPROVISION_SLA_MS) and leavers still open. Dates are ISO 8601 (2026-01-31 is midnight
  UTC); without them, the 30 days up to now.
`;

export interface ReportArgs {
  report: string;
  from?: string;
  to?: string;
  format?: string;
  slaMs: number;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const formatSchema = z.enum(REPORT_FORMATS, { error: `must be one of ${REPORT_FORMATS.join(', ')}` }).default('text');

/** Exit codes: 0 printed, 2 bad arguments. */
export async function reportCommand(db: Database, args: ReportArgs, io: Output = processOutput): Promise<number> {
  if (args.report !== 'deprovisioning') {
    io.err(REPORT_USAGE);
    return 2;
  }
  const window = reportWindowSchema.safeParse({ from: args.from, to: args.to });
  const format = formatSchema.safeParse(args.format);
  if (!window.success || !format.success) {
    const issues = [...(window.error?.issues ?? []), ...(format.error?.issues.map((issue) => ({ ...issue, path: ['format'] })) ?? [])];
    io.err(`Invalid arguments:\n${issues.map((issue) => `  --${issue.path.map(String).join('.')}: ${issue.message}`).join('\n')}\n`);
    return 2;
  }
  const report = await deprovisioningReport(db, { ...window.data, slaMs: args.slaMs });
  const render = { text: reportText, json: reportJson, csv: reportCsv }[format.data];
  io.out(render(report));
  return 0;
}
