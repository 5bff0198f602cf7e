// CSV import of HR changes (issue 16; docs/decisions/025-hr-csv-import.md). Every row is checked
// before anything is applied: one row that cannot be applied (an unknown person, a bad date, the
// same person twice) refuses the whole file with a line-numbered reason per row. A file that
// passes is applied row by row, each row in its own transaction through the SCIM intake
// (src/scim/users.ts's commitIdentityChange), so each row is all or nothing, its lifecycle event
// takes the guard, the outbox and the workflow, and the same file applied twice changes nothing.
import { createHash } from 'node:crypto';
import { CsvError, parse } from 'csv-parse/sync';
import { appendAudit } from '../audit/append.js';
import type { Principal } from '../auth/tokens.js';
import type { Prisma } from '../db/client.js';
import type { Identity } from '../generated/prisma/client.js';
import { detectLifecycleChange, detectScheduledChange, lifecycleStateOf, terminationWithdrawn, type LifecycleKind, type LifecycleState } from '../lifecycle/detect.js';
import { planLifecycleChange, type OpenScheduled } from '../lifecycle/plan.js';
import { openScheduledOfEach, planScheduledChange, scheduledOutcome } from '../lifecycle/record.js';
import { columnsFromScim, type ScimUser } from '../scim/user-mapping.js';
import { commitIdentityChange, type IdentityChange, type ScimDependencies } from '../scim/users.js';
import { HR_ATTRIBUTES, type HrMapping } from './mapping.js';
import { sameValue, withValues, writeHrValues, type HrValues } from './values.js';

/** Larger files are refused before they are parsed (an upload, or a file given to the CLI). */
export const MAX_IMPORT_BYTES = 8 * 1024 * 1024;
/** Rows applied at once, each in its own transaction: a few, to leave connections for SCIM. */
const APPLY_CONCURRENCY = 4;

/** The file cannot be read as CSV at all (quoting, a row with the wrong number of cells, a header problem). */
export class CsvFormatError extends Error {
  override readonly name = 'CsvFormatError';
}

export interface RowError {
  line: number;
  reason: string;
}

export interface RowChange {
  line: number;
  /** The person as the file names them. */
  person: string;
  identityId: string;
  userName: string;
  /** What the change means: a leaver (now, or on `effectiveAt`), mover or rehire (now, or dated to `effectiveAt`), a withdrawn termination date, or an update with no lifecycle event. */
  kind: 'leaver' | 'mover' | 'rehire' | 'withdrawn' | 'update';
  effectiveAt: string | null;
  changes: Record<string, { from: unknown; to: unknown }>;
}

export interface ImportReport {
  file: { name: string; sha256: string; rows: number };
  dryRun: boolean;
  /** Rows that would change (dry run) or were to change (apply). */
  changes: RowChange[];
  unchanged: number;
  /** Rows that cannot be applied; any of them means nothing was applied. */
  errors: RowError[];
  /** Applied rows (0 in a dry run or when `errors` is not empty). */
  applied: number;
  /** Rows whose own transaction failed while applying (the rest were applied; importing the file again finishes the job). */
  failed: RowError[];
}

interface ParsedRow {
  line: number;
  cells: Record<string, string>;
}

function parseCsv(csv: string, mapping: HrMapping): ParsedRow[] {
  const wanted = [mapping.person.column, ...Object.values(mapping.columns), mapping.effectiveDate].filter((value): value is string => value !== undefined);
  type Parsed = { record: Record<string, string>; info: { lines: number; empty_lines: number } }[];
  let records: Parsed;
  try {
    records = parse<Parsed[number]>(csv, {
      // RFC 4180 with what exports add: a byte-order mark, CRLF or LF, blank lines, padded cells.
      bom: true,
      delimiter: mapping.delimiter,
      skip_empty_lines: true,
      trim: true,
      info: true,
      columns: (header: string[]) => {
        const seen = new Set<string>();
        for (const name of header) {
          if (seen.has(name)) throw new CsvFormatError(`line 1: the column "${name}" appears twice in the header`);
          seen.add(name);
        }
        const missing = wanted.filter((name) => !seen.has(name));
        if (missing.length > 0) throw new CsvFormatError(`line 1: the header lacks the mapped column${missing.length > 1 ? 's' : ''} ${missing.map((name) => `"${name}"`).join(', ')} (it has ${header.map((name) => `"${name}"`).join(', ')})`);
        return header;
      },
    });
  } catch (error) {
    if (error instanceof CsvFormatError) throw error;
    if (error instanceof CsvError) throw new CsvFormatError(`line ${(error as CsvError & { lines?: number }).lines ?? '?'}: ${error.message}`);
    throw error;
  }
  // csv-parse reports the line a record ends on; a quoted cell may span lines, so the start is
  // the line after the previous record's end, past any blank lines skipped between them.
  let previousEnd = 1;
  let previousEmpty = 0;
  return records.map(({ record, info }) => {
    const line = previousEnd + 1 + (info.empty_lines - previousEmpty);
    previousEnd = info.lines;
    previousEmpty = info.empty_lines;
    return { line, cells: record };
  });
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO 8601 date (the start or end of that day, UTC) or date-time with a zone, or why not. */
export function parseDate(text: string, mapping: Pick<HrMapping, 'dateOnly'>): Date | string {
  if (DATE_ONLY.test(text)) {
    const date = new Date(`${text}T${mapping.dateOnly === 'endOfDay' ? '23:59:59.999' : '00:00:00.000'}Z`);
    if (!Number.isNaN(date.getTime()) && date.toISOString().startsWith(text)) return date;
  } else if (DATE_TIME.test(text)) {
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  return `"${text}" is not an ISO 8601 date (2027-03-31) or date-time with a time zone (2027-03-31T17:00:00Z)`;
}

/** What a row asks for, or why it cannot be read. */
function valuesOf(row: ParsedRow, mapping: HrMapping): HrValues | string {
  const values: HrValues = {};
  const problems: string[] = [];
  for (const attribute of HR_ATTRIBUTES) {
    const columnName = mapping.columns[attribute];
    if (columnName === undefined) continue;
    const text = row.cells[columnName] ?? '';
    if (text === '') {
      // An empty active cell says nothing: the person is neither joining nor leaving by it.
      if (mapping.emptyCells === 'clear' && attribute !== 'active') values[attribute] = null;
      continue;
    }
    if (attribute === 'active') {
      const lower = text.toLowerCase();
      if (mapping.activeValues.active.some((value) => value.toLowerCase() === lower)) values.active = true;
      else if (mapping.activeValues.inactive.some((value) => value.toLowerCase() === lower)) values.active = false;
      else problems.push(`"${columnName}" is "${text}", neither an active value (${mapping.activeValues.active.join(', ')}) nor an inactive one (${mapping.activeValues.inactive.join(', ')})`);
    } else if (attribute === 'terminationDate') {
      const date = parseDate(text, mapping);
      if (typeof date === 'string') problems.push(`"${columnName}" ${date}`);
      else values.terminationDate = date;
    } else if (text.length > 500) problems.push(`"${columnName}" is longer than 500 characters`);
    else values[attribute] = text;
  }
  return problems.length > 0 ? problems.join('; ') : values;
}

function stateWith(identity: Identity, resource: ScimUser): LifecycleState {
  return lifecycleStateOf({ ...identity, ...columnsFromScim(resource) })!;
}

function kindOf(identity: Identity, resource: ScimUser, now: Date): Pick<RowChange, 'kind' | 'effectiveAt' | 'changes'> {
  const before = lifecycleStateOf(identity);
  const after = stateWith(identity, resource);
  const change = detectLifecycleChange(before, after, now);
  const changes: RowChange['changes'] = {};
  for (const key of HR_ATTRIBUTES) if (!sameValue(before?.[key], after[key])) changes[key] = { from: before?.[key] ?? null, to: after[key] ?? null };
  if (change) return { kind: change.kind === 'joiner' ? 'update' : change.kind, effectiveAt: change.effectiveAt?.toISOString() ?? null, changes };
  return { kind: terminationWithdrawn(before, after) ? 'withdrawn' : 'update', effectiveAt: null, changes };
}

/** Live identities by the mapped key, in one query: lowercased for userName and email (RFC 7643 §4.1.1). */
async function identitiesByKey(db: ScimDependencies['db'], attribute: HrMapping['person']['attribute'], keys: string[]): Promise<Map<string, Identity[]>> {
  const insensitive = attribute === 'userName' || attribute === 'email';
  const normalise = (value: string) => (insensitive ? value.toLowerCase() : value);
  const column = { userName: 'user_name', email: 'email', externalId: 'external_id', employeeNumber: 'employee_number' }[attribute];
  const wanted = [...new Set(keys.map(normalise))];
  const expression = insensitive ? `lower(${column})` : column;
  const rows = await db.$queryRawUnsafe<{ id: string }[]>(`SELECT id FROM identity WHERE deleted_at IS NULL AND ${expression} = ANY($1::text[])`, wanted);
  const identities = await db.identity.findMany({ where: { id: { in: rows.map((row) => row.id) } } });
  const byKey = new Map<string, Identity[]>();
  for (const identity of identities) {
    const key = identity[attribute];
    if (key === null) continue;
    const list = byKey.get(normalise(key)) ?? [];
    list.push(identity);
    byKey.set(normalise(key), list);
  }
  return new Map(keys.map((key) => [key, byKey.get(normalise(key)) ?? []]));
}

/**
 * How an HR change is recorded: its audit action and data, and whether the source sent an explicit
 * leaver (the webhook's `leaver` event), which withdraws a dated rehire even when the person is
 * inactive already. A CSV row's inactive status is not one: exports show a returning person as
 * terminated until their first day, so a daily re-import must not withdraw their pre-hire.
 */
export interface HrAudit {
  action: string;
  data: Record<string, unknown>;
  leaving?: boolean;
}

/** The person's row with `values` written where they differ, named for the audit trail. */
async function writeValues(tx: Prisma.TransactionClient, before: Identity, values: HrValues, audit: HrAudit): Promise<IdentityChange & { changed: boolean }> {
  const { row, changed } = await writeHrValues(tx, before, values);
  return { row, action: `${audit.action}.${changed.length > 0 ? 'applied' : 'unchanged'}`, data: audit.data, changed: changed.length > 0, leaving: audit.leaving };
}

/**
 * Sets an HR source's values on one person through the SCIM intake, in one transaction; computed
 * under the row lock from the row as it is then, so a SCIM write since the caller looked is kept.
 * Audited as `<action>.applied`, or `<action>.unchanged` when nothing differs. Answers whether it changed anything.
 */
export async function applyHrValues(
  deps: ScimDependencies,
  principal: Principal,
  identityId: string,
  values: HrValues,
  audit: HrAudit,
): Promise<boolean> {
  let changedAny = false;
  await commitIdentityChange(deps, principal, identityId, async (tx, before) => {
    const { changed, ...change } = await writeValues(tx, before, values, audit);
    changedAny = changed;
    return change;
  });
  return changedAny;
}

/** What became of a dated mover or rehire: a new event, a new date for the same one, or nothing new. */
export interface ScheduledHrChange {
  outcome: ReturnType<typeof scheduledOutcome> | 'applied';
  kind: LifecycleKind | null;
}

/**
 * An HR source's mover or rehire dated ahead (decision 026): recorded through the same intake and
 * plan as every change (src/lifecycle/record.ts) as an event that writes `values` to the person
 * on `effectiveAt`; the person keeps their values until then. Audited as `<action>.scheduled`,
 * `.rescheduled` or `.unchanged` (the same change and date again). A date that has come by the
 * time the person is locked is applied at once, as an undated change is.
 */
export async function scheduleHrValues(
  deps: ScimDependencies,
  principal: Principal,
  identityId: string,
  input: { values: HrValues; effectiveAt: Date },
  audit: HrAudit,
): Promise<ScheduledHrChange> {
  let answer: ScheduledHrChange = { outcome: 'unchanged', kind: null };
  await commitIdentityChange(deps, principal, identityId, async (tx, before) => {
    const now = new Date();
    if (input.effectiveAt.getTime() <= now.getTime()) {
      const { changed, ...change } = await writeValues(tx, before, input.values, audit);
      if (changed) answer = { outcome: 'applied', kind: null };
      return change;
    }
    const { resource } = withValues(before, input.values);
    const scheduled = await planScheduledChange(tx, { identityId, before: lifecycleStateOf(before)!, after: stateWith(before, resource), effectiveAt: input.effectiveAt, now });
    answer = { outcome: scheduledOutcome(scheduled), kind: scheduled.change?.kind ?? null };
    return { row: before, action: `${audit.action}.${answer.outcome}`, data: { ...audit.data, effectiveAt: input.effectiveAt.toISOString() }, scheduled };
  });
  return answer;
}

/** What `values` would change for `identity` now (for answers and dry runs). */
export function describeHrChange(identity: Identity, values: HrValues, now: Date): Pick<RowChange, 'kind' | 'effectiveAt' | 'changes'> | null {
  const { resource, changed } = withValues(identity, values);
  return changed.length === 0 ? null : kindOf(identity, resource, now);
}

interface PlannedRow {
  change: RowChange;
  values: HrValues;
  /** A dated mover or rehire: the day it takes effect. */
  on?: Date;
}

/** The row's effective date when the mapping has the column and the cell says one; a string says why it cannot be read. */
function effectiveDateOf(row: ParsedRow, mapping: HrMapping): Date | string | undefined {
  const text = mapping.effectiveDate === undefined ? '' : (row.cells[mapping.effectiveDate] ?? '');
  if (text === '') return undefined;
  const date = parseDate(text, mapping);
  return typeof date === 'string' ? `"${mapping.effectiveDate}" ${date}` : date;
}

/** How a change reads in a report: the kind, with its date when it waits for one. */
export function rowChangeSummary(change: Pick<RowChange, 'kind' | 'effectiveAt'>): string {
  if (change.effectiveAt) return `${change.kind} on ${change.effectiveAt}`;
  return change.kind === 'leaver' ? 'leaver now' : change.kind;
}

async function plan(deps: ScimDependencies, rows: ParsedRow[], mapping: HrMapping, now: Date) {
  const errors: RowError[] = [];
  const planned: PlannedRow[] = [];
  let unchanged = 0;
  const personColumn = mapping.person.column;
  const found = await identitiesByKey(deps.db, mapping.person.attribute, rows.map((row) => row.cells[personColumn] ?? '').filter(Boolean));
  const lineOf = new Map<string, number>();
  for (const row of rows) {
    const subject = row.cells[personColumn] ?? '';
    if (!subject) {
      errors.push({ line: row.line, reason: `the person column "${personColumn}" is empty` });
      continue;
    }
    const matches = found.get(subject) ?? [];
    if (matches.length === 0) {
      errors.push({ line: row.line, reason: `no live identity has ${mapping.person.attribute} "${subject}"` });
      continue;
    }
    if (matches.length > 1) {
      errors.push({ line: row.line, reason: `${matches.length} live identities have ${mapping.person.attribute} "${subject}" (${matches.map((identity) => identity.userName).join(', ')}): map a unique column` });
      continue;
    }
    const identity = matches[0]!;
    const earlier = lineOf.get(identity.id);
    if (earlier !== undefined) {
      errors.push({ line: row.line, reason: `the same person as line ${earlier} (${identity.userName}): one row per person, so the outcome does not depend on row order` });
      continue;
    }
    lineOf.set(identity.id, row.line);
    const values = valuesOf(row, mapping);
    if (typeof values === 'string') {
      errors.push({ line: row.line, reason: values });
      continue;
    }
    const on = effectiveDateOf(row, mapping);
    if (typeof on === 'string') {
      errors.push({ line: row.line, reason: on });
      continue;
    }
    const { resource, changed } = withValues(identity, values);
    if (changed.length === 0) {
      unchanged += 1;
      continue;
    }
    const person = { line: row.line, person: subject, identityId: identity.id, userName: identity.userName };
    if (on && on.getTime() > now.getTime()) {
      // Dated ahead: the row's mover or rehire waits for its day, as the webhook's does (decision 026).
      const change = detectScheduledChange(lifecycleStateOf(identity), stateWith(identity, resource), on);
      if (!change) {
        errors.push({ line: row.line, reason: `"${mapping.effectiveDate}" ${on.toISOString()} is ahead, which dates a department, title, division, organization or cost centre change or a re-activation; this row is neither (a leaver's date goes in the termination date column)` });
        continue;
      }
      planned.push({ values, on, change: { ...person, kind: change.kind as 'mover' | 'rehire', effectiveAt: on.toISOString(), changes: change.changes } });
      continue;
    }
    planned.push({ values, change: { ...person, ...kindOf(identity, resource, now) } });
  }
  // A dated row already scheduled so (the same file again) is unchanged: the plan says so.
  const dated = planned.filter((row) => row.on);
  const open = dated.length === 0 ? new Map<string, OpenScheduled>() : await openScheduledOfEach(deps.db, dated.map((row) => row.change.identityId));
  const same = new Set(
    dated.filter((row) => {
      const plan = planLifecycleChange({ change: { kind: row.change.kind as 'mover' | 'rehire', changes: row.change.changes, effectiveAt: row.on }, withdrawn: false, openLeaver: false, openScheduled: open.get(row.change.identityId), now });
      return Object.keys(plan).length === 0;
    }),
  );
  return { errors, planned: planned.filter((row) => !same.has(row)), unchanged: unchanged + same.size };
}

/**
 * Reads the file, checks every row, and unless it is a dry run or a row cannot be applied, applies
 * the rows that change something. A dry run answers exactly what applying would change now.
 */
export async function importHrChanges(
  deps: ScimDependencies,
  input: { csv: Buffer | string; mapping: HrMapping; fileName: string; dryRun: boolean; principal: Principal },
): Promise<ImportReport> {
  const bytes = typeof input.csv === 'string' ? Buffer.from(input.csv, 'utf8') : input.csv;
  if (bytes.length > MAX_IMPORT_BYTES) throw new CsvFormatError(`The file is ${bytes.length} bytes; at most ${MAX_IMPORT_BYTES} are imported at once: split it`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const rows = parseCsv(bytes.toString('utf8'), input.mapping);
  const now = new Date();
  const { errors, planned, unchanged } = await plan(deps, rows, input.mapping, now);
  const report: ImportReport = {
    file: { name: input.fileName, sha256, rows: rows.length },
    dryRun: input.dryRun,
    changes: planned.map((row) => row.change),
    unchanged,
    errors,
    applied: 0,
    failed: [],
  };
  if (input.dryRun || errors.length > 0 || planned.length === 0) return report;

  const source = { file: input.fileName, sha256 };
  let next = 0;
  const applyOne = async ({ change, values, on }: PlannedRow) => {
    try {
      const audit = { action: 'hr.import', data: { ...source, line: change.line } };
      if (on) await scheduleHrValues(deps, input.principal, change.identityId, { values, effectiveAt: on }, audit);
      else await applyHrValues(deps, input.principal, change.identityId, values, audit);
      report.applied += 1;
    } catch (error) {
      report.failed.push({ line: change.line, reason: (error as Error).message });
    }
  };
  await Promise.all(Array.from({ length: Math.min(APPLY_CONCURRENCY, planned.length) }, async () => {
    for (let index = next++; index < planned.length; index = next++) await applyOne(planned[index]!);
  }));
  report.failed.sort((a, b) => a.line - b.line);
  // The import itself, for the record: who applied which file (by its hash) and what it did.
  await deps.db.$transaction((tx) =>
    appendAudit(tx, [{ actor: input.principal.name, action: 'hr.import', data: { ...source, rows: rows.length, applied: report.applied, unchanged, failed: report.failed.length, tokenId: input.principal.tokenId } }]),
  );
  return report;
}
