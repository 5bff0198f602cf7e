// The time-to-deprovision report: for each leaver due in a window, how long each system took to
// confirm the account disabled, percentiles per system, and who is over the SLA or still open.
// PostgreSQL does the arithmetic (percentile_cont, window aggregates); the caller gets rows.
import { z } from 'zod';
import type { Database } from '../db/client.js';
import { Prisma } from '../generated/prisma/client.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** JML_DEPROVISION_SLA_MS's default (src/config.ts). */
export const DEFAULT_DEPROVISION_SLA_MS = 4 * 60 * 60 * 1000;

/** `2026-01-31` (midnight UTC) or a date-time with a time zone. */
const instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'must be an ISO 8601 date (2026-01-31, UTC) or a date-time with a time zone' })
  .transform((iso) => new Date(iso));

export const MAX_REPORT_WINDOW_DAYS = 366;

export const REPORT_FORMATS = ['text', 'json', 'csv'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The window as strings (flags, query parameters); without them, the 30 days up to now. */
export const reportWindowSchema = z
  .strictObject({ from: instant.optional(), to: instant.optional() })
  .transform(({ from, to }, context) => {
    const end = to ?? new Date();
    const start = from ?? new Date(end.getTime() - 30 * DAY_MS);
    if (start >= end) context.addIssue({ code: 'custom', path: ['from'], message: 'must be before to' });
    // One request must not make PostgreSQL sort the whole history: a year at most, ask again for more.
    else if (end.getTime() - start.getTime() > MAX_REPORT_WINDOW_DAYS * DAY_MS) {
      context.addIssue({ code: 'custom', path: ['from'], message: `the window may span at most ${MAX_REPORT_WINDOW_DAYS} days: split it` });
    }
    return { from: start, to: end };
  });

/**
 * How one system ended for one leaver: disabled (confirmed: accepted by the system, and verified
 * where its read showed it), no such account (never counted as disabled), or not yet.
 */
export type TargetOutcome = 'confirmed' | 'not_found' | 'open';

export interface LeaverSystem {
  system: string;
  /** target_action.status as recorded. */
  status: string;
  outcome: TargetOutcome;
  confirmedAt: Date | null;
  /** Confirmed: due to confirmation. Open: due to `asOf`, so far. Nothing to disable: null. */
  durationMs: number | null;
  /** When a read showed the account disabled; null where the system has no read or it did not. */
  verifiedAt: Date | null;
  /** Due to verification; null when not verified. */
  verifiedMs: number | null;
  overSla: boolean;
}

export interface LeaverRow {
  eventId: string;
  identityId: string;
  userName: string;
  eventStatus: string;
  /** The later of the event's creation and its effective date: the clock starts here. */
  dueAt: Date;
  systems: LeaverSystem[];
  /** Until the last system confirmed; null while a system is open or when none had an account. */
  durationMs: number | null;
  overSla: boolean;
  open: boolean;
}

export interface SystemSummary {
  system: string;
  confirmed: number;
  notFound: number;
  open: number;
  overSla: number;
  /** Over confirmed disables only, rounded to the millisecond; null when there were none. */
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  /** Confirmed disables that a read of the account verified (issue 14). */
  verified: number;
  /** Time to verified, over verified disables only. */
  p50VerifiedMs: number | null;
  p95VerifiedMs: number | null;
  maxVerifiedMs: number | null;
}

export interface DeprovisioningReport {
  from: Date;
  to: Date;
  asOf: Date;
  slaMs: number;
  systems: SystemSummary[];
  leavers: LeaverRow[];
  /** Event ids of leavers over the SLA, and of leavers with a system still open, in due order. */
  overSla: string[];
  open: string[];
}

export interface ReportInput {
  from: Date;
  to: Date;
  slaMs: number;
  /** "Now" for open targets (tests pin it); leavers due after it are not due yet and left out. */
  asOf?: Date;
}

/**
 * Every deactivation of a leaver due in [from, min(to, asOf)), except dry runs and cancelled
 * targets, with its outcome and duration. Anything else than succeeded or not_found
 * (pending, needs_attention) is open. `created_at < to` is implied by the due-date bound; it
 * is spelled out so the (kind, created_at) index narrows the scan.
 */
function measuredTargets({ from, to, slaMs, asOf }: Required<ReportInput>): Prisma.Sql {
  const until = to < asOf ? to : asOf;
  return Prisma.sql`
    WITH leaver AS (
      SELECT e.id, e.identity_id, e.status, i.user_name, GREATEST(e.created_at, e.effective_at) AS due_at
      FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id
      WHERE e.kind = 'leaver' AND e.created_at < ${until}::timestamptz
        AND GREATEST(e.created_at, e.effective_at) >= ${from}::timestamptz AND GREATEST(e.created_at, e.effective_at) < ${until}::timestamptz
    ), measured AS (
      SELECT l.id AS event_id, l.identity_id, l.user_name, l.status AS event_status, l.due_at,
        t.system, t.status::text AS status, t.confirmed_at, t.verified_at,
        CASE WHEN t.status IN ('succeeded', 'verified') THEN 'confirmed' WHEN t.status = 'not_found' THEN 'not_found' ELSE 'open' END AS outcome,
        CASE WHEN t.status = 'verified' THEN GREATEST(0, EXTRACT(EPOCH FROM t.verified_at - l.due_at) * 1000)::float8 END AS verified_ms,
        -- A system disabled at once for a future-dated leaver confirmed before the date: 0, not negative.
        CASE
          WHEN t.status IN ('succeeded', 'verified') THEN GREATEST(0, EXTRACT(EPOCH FROM COALESCE(t.confirmed_at, t.updated_at) - l.due_at) * 1000)::float8
          WHEN t.status = 'not_found' THEN NULL
          ELSE GREATEST(0, EXTRACT(EPOCH FROM ${asOf}::timestamptz - l.due_at) * 1000)::float8
        END AS duration_ms
      FROM leaver l JOIN target_action t ON t.event_id = l.id
      WHERE t.action = 'deactivate' AND t.status NOT IN ('dry_run', 'cancelled')
    ), judged AS (
      SELECT *, COALESCE(duration_ms > ${slaMs}::float8, false) AS over_sla FROM measured
    )`;
}

interface TargetRecord {
  event_id: string;
  identity_id: string;
  user_name: string;
  event_status: string;
  due_at: Date;
  system: string;
  status: string;
  outcome: TargetOutcome;
  confirmed_at: Date | null;
  duration_ms: number | null;
  verified_at: Date | null;
  verified_ms: number | null;
  over_sla: boolean;
  leaver_open: boolean;
  leaver_over_sla: boolean;
  leaver_duration_ms: number | null;
}

interface SummaryRecord {
  system: string;
  confirmed: number;
  not_found: number;
  open: number;
  over_sla: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
  verified: number;
  p50_verified: number | null;
  p95_verified: number | null;
  max_verified: number | null;
}

export async function deprovisioningReport(db: Database, input: ReportInput): Promise<DeprovisioningReport> {
  const window = { ...input, asOf: input.asOf ?? new Date() };
  const targets = measuredTargets(window);
  // One snapshot for both queries, so the summary and the rows agree.
  const [rows, summaries] = await db.$transaction(
    [
      db.$queryRaw<TargetRecord[]>`${targets}
        SELECT *,
          bool_or(outcome = 'open') OVER leaver AS leaver_open,
          bool_or(over_sla) OVER leaver AS leaver_over_sla,
          CASE WHEN bool_or(outcome = 'open') OVER leaver THEN NULL
               ELSE max(duration_ms) FILTER (WHERE outcome = 'confirmed') OVER leaver END AS leaver_duration_ms
        FROM judged
        WINDOW leaver AS (PARTITION BY event_id)
        ORDER BY due_at, event_id, system`,
      db.$queryRaw<SummaryRecord[]>`${targets}
        SELECT system,
          count(*) FILTER (WHERE outcome = 'confirmed')::int AS confirmed,
          count(*) FILTER (WHERE outcome = 'not_found')::int AS not_found,
          count(*) FILTER (WHERE outcome = 'open')::int AS open,
          count(*) FILTER (WHERE over_sla)::int AS over_sla,
          round((percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome = 'confirmed'))::numeric)::float8 AS p50,
          round((percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome = 'confirmed'))::numeric)::float8 AS p95,
          max(duration_ms) FILTER (WHERE outcome = 'confirmed') AS max,
          count(verified_ms)::int AS verified,
          round((percentile_cont(0.5) WITHIN GROUP (ORDER BY verified_ms))::numeric)::float8 AS p50_verified,
          round((percentile_cont(0.95) WITHIN GROUP (ORDER BY verified_ms))::numeric)::float8 AS p95_verified,
          max(verified_ms) AS max_verified
        FROM judged GROUP BY system ORDER BY system`,
    ],
    { isolationLevel: 'RepeatableRead' },
  );

  const leavers: LeaverRow[] = [];
  for (const row of rows) {
    let leaver = leavers.at(-1);
    if (leaver?.eventId !== row.event_id) {
      leaver = {
        eventId: row.event_id,
        identityId: row.identity_id,
        userName: row.user_name,
        eventStatus: row.event_status,
        dueAt: row.due_at,
        systems: [],
        durationMs: row.leaver_duration_ms,
        overSla: row.leaver_over_sla,
        open: row.leaver_open,
      };
      leavers.push(leaver);
    }
    leaver.systems.push({ system: row.system, status: row.status, outcome: row.outcome, confirmedAt: row.confirmed_at, durationMs: row.duration_ms, verifiedAt: row.verified_at, verifiedMs: row.verified_ms, overSla: row.over_sla });
  }
  return {
    from: window.from,
    to: window.to,
    asOf: window.asOf,
    slaMs: window.slaMs,
    systems: summaries.map((summary) => ({
      system: summary.system,
      confirmed: summary.confirmed,
      notFound: summary.not_found,
      open: summary.open,
      overSla: summary.over_sla,
      p50Ms: summary.p50,
      p95Ms: summary.p95,
      maxMs: summary.max,
      verified: summary.verified,
      p50VerifiedMs: summary.p50_verified,
      p95VerifiedMs: summary.p95_verified,
      maxVerifiedMs: summary.max_verified,
    })),
    leavers,
    overSla: leavers.filter((leaver) => leaver.overSla).map((leaver) => leaver.eventId),
    open: leavers.filter((leaver) => leaver.open).map((leaver) => leaver.eventId),
  };
}

// ---- Output ------------------------------------------------------------------------------------

/** 850ms, 42s, 5m 03s, 4h 00m, 2d 03h: short enough for a table cell. */
export function formatDuration(ms: number): string {
  const rounded = Math.round(ms);
  if (rounded < 1000) return `${rounded}ms`;
  const seconds = Math.floor(rounded / 1000);
  const pad = (value: number) => String(value).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${pad(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${pad(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${pad(Math.floor(seconds / 3600) % 24)}h`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const optionalDuration = (ms: number | null) => (ms === null ? '-' : formatDuration(ms));

function cellOf(target: LeaverSystem | undefined): string {
  if (!target) return '-';
  const flag = target.overSla ? ' !' : '';
  if (target.outcome === 'not_found') return 'not found';
  if (target.outcome === 'open') return `open ${optionalDuration(target.durationMs)} (${target.status})${flag}`;
  return `${optionalDuration(target.durationMs)}${flag}`;
}

export function reportText(report: DeprovisioningReport): string {
  const systems = report.systems.map((summary) => summary.system);
  const heading = `Time to deprovision: leavers due ${report.from.toISOString()} to ${report.to.toISOString()} (as of ${report.asOf.toISOString()}), SLA ${formatDuration(report.slaMs)}`;
  if (report.leavers.length === 0) return `${heading}\n\nNo leaver was due in this window.\n`;
  const summary = table(
    // Time to accepted (the vendor took the change) and time to verified (a read showed it), decision 021.
    ['System', 'Confirmed', 'Not found', 'Open', 'Over SLA', 'p50 accepted', 'p95 accepted', 'Max accepted', 'Verified', 'p50 verified', 'p95 verified'],
    report.systems.map((row) => [
      row.system,
      String(row.confirmed),
      String(row.notFound),
      String(row.open),
      String(row.overSla),
      optionalDuration(row.p50Ms),
      optionalDuration(row.p95Ms),
      optionalDuration(row.maxMs),
      String(row.verified),
      optionalDuration(row.p50VerifiedMs),
      optionalDuration(row.p95VerifiedMs),
    ]),
  );
  const leavers = table(
    ['Due', 'Event', 'User', ...systems, 'Total'],
    report.leavers.map((leaver) => [
      leaver.dueAt.toISOString(),
      leaver.eventId,
      leaver.userName,
      ...systems.map((system) => cellOf(leaver.systems.find((target) => target.system === system))),
      leaver.open ? 'open' : optionalDuration(leaver.durationMs),
    ]),
  );
  return [
    heading,
    '',
    summary,
    '',
    `Leavers: ${report.leavers.length}, over SLA: ${report.overSla.length}, still open: ${report.open.length} ("!" marks a system over the SLA)`,
    leavers,
    '',
  ].join('\n');
}

/** RFC 4180 quoting, and a leading ' for text a spreadsheet would run as a formula. */
function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One row per leaver and system: the detail a spreadsheet aggregates as it likes. */
export function reportCsv(report: DeprovisioningReport): string {
  const header = ['event_id', 'identity_id', 'user_name', 'due_at', 'system', 'status', 'outcome', 'confirmed_at', 'duration_ms', 'over_sla', 'verified_at', 'verified_ms'];
  const lines = report.leavers.flatMap((leaver) =>
    leaver.systems.map((target) =>
      [leaver.eventId, leaver.identityId, leaver.userName, leaver.dueAt.toISOString(), target.system, target.status, target.outcome, target.confirmedAt?.toISOString() ?? null, target.durationMs, target.overSla, target.verifiedAt?.toISOString() ?? null, target.verifiedMs]
        .map(csvField)
        .join(','),
    ),
  );
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}

export function reportJson(report: DeprovisioningReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
