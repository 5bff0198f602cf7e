// Audit exports for auditors: CSV (RFC 4180) or JSON, streamed a batch at a time, in the order rows
// were appended. Both carry every column, entry_hash, prev_hash and hash included, in a fixed
// order, so an auditor can re-verify the rows themselves (sorted by seq, decision 016): `data` is
// the canonical JSON the hashes were computed over. Rows not yet integrated have no seq.
import type { Database } from '../db/client.js';
import type { AuditEvent } from '../generated/prisma/client.js';
import { canonicalJson } from './canonical.js';
import { auditRowView, streamAudit, type AuditFilter } from './query.js';

export const EXPORT_FORMATS = ['csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const CSV_COLUMNS = ['id', 'seq', 'occurred_at', 'actor', 'action', 'identity_id', 'event_id', 'system', 'data', 'prev_hash', 'hash', 'entry_hash', 'chain_version'] as const;

/** RFC 4180 §2: quote a field holding a comma, a quote or a line break; double inner quotes. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

export function csvRecord(row: AuditEvent): string {
  const fields = [
    row.id.toString(),
    row.seq?.toString() ?? '',
    row.occurredAt.toISOString(),
    row.actor,
    row.action,
    row.identityId ?? '',
    row.eventId ?? '',
    row.system ?? '',
    canonicalJson(row.data),
    row.prevHash ?? '',
    row.hash ?? '',
    row.entryHash ?? '',
    row.chainVersion.toString(),
  ];
  // RFC 4180 §2: records end in CRLF.
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * JSON is one array, one row per line: valid JSON for any tool, and still readable line by line.
 * Keys appear in the CSV's column order.
 */
function jsonRecord(row: AuditEvent, first: boolean): string {
  return `${first ? '' : ',\n'}${JSON.stringify(auditRowView(row))}`;
}

export interface ExportSink {
  write(chunk: string): void | Promise<void>;
}

/** Writes the matching rows to `sink`; returns how many. */
export async function exportAudit(db: Database, filter: AuditFilter, format: ExportFormat, sink: ExportSink): Promise<number> {
  let count = 0;
  if (format === 'csv') await sink.write(`${CSV_COLUMNS.join(',')}\r\n`);
  else await sink.write('[\n');
  for await (const row of streamAudit(db, filter)) {
    await sink.write(format === 'csv' ? csvRecord(row) : jsonRecord(row, count === 0));
    count += 1;
  }
  if (format === 'json') await sink.write(count === 0 ? ']\n' : '\n]\n');
  return count;
}
