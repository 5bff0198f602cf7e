// Reading the audit trail: filters and keyset pagination shared by GET /api/audit, the export and
// the evidence report. Rows come in the order they were appended (id ascending), which includes
// rows the integrator has not linked into the chain yet (seq null, decision 016). Chain order is
// integration order and may differ for a row whose transaction committed late; `seq` shows it.
import { z } from 'zod';
import type { Database, Prisma } from '../db/client.js';
import type { AuditEvent } from '../generated/prisma/client.js';

export const MAX_AUDIT_PAGE = 1000;

/** One audit row as the API, the export and the evidence report show it. */
export interface AuditRowView {
  /** Insertion order; the row's name before it has a seq. */
  id: number;
  /** A number: the chain would need 2^53 rows before this loses precision. Null until integrated. */
  seq: number | null;
  occurredAt: string;
  actor: string;
  action: string;
  identityId: string | null;
  eventId: string | null;
  system: string | null;
  data: unknown;
  prevHash: string | null;
  hash: string | null;
  /** The row's own leaf hash (decision 016); null for rows chained before it. */
  entryHash: string | null;
  /** 1: chained at insert (before decision 016); 2: leaf hash at insert, chained by the integrator. */
  chainVersion: number;
}

export function auditRowView(row: AuditEvent): AuditRowView {
  return {
    id: Number(row.id),
    seq: row.seq === null ? null : Number(row.seq),
    occurredAt: row.occurredAt.toISOString(),
    actor: row.actor,
    action: row.action,
    identityId: row.identityId,
    eventId: row.eventId,
    system: row.system,
    data: row.data,
    prevHash: row.prevHash,
    hash: row.hash,
    entryHash: row.entryHash,
    chainVersion: row.chainVersion,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An ISO 8601 date-time with a zone, or a plain date (midnight UTC). */
const instant = z
  .string()
  .refine((text) => z.iso.datetime({ offset: true }).safeParse(text).success || z.iso.date().safeParse(text).success, {
    error: 'must be an ISO 8601 date (2026-01-31) or date-time with a time zone (2026-01-31T12:00:00Z)',
  })
  .transform((text) => new Date(text.length === 10 ? `${text}T00:00:00Z` : text));

const cursorSchema = z.string().max(100).transform((raw, context): bigint => {
  const decoded = Buffer.from(raw, 'base64url').toString('utf8');
  if (/^i[0-9]{1,19}$/.test(decoded)) return BigInt(decoded.slice(1));
  context.addIssue({ code: 'custom', message: 'must be a nextCursor returned by an earlier page' });
  return z.NEVER;
});

function encodeCursor(id: bigint): string {
  return Buffer.from(`i${id}`).toString('base64url');
}

/**
 * Filters as strings (query parameters, command-line flags). `identity` is a SCIM user id or a
 * userName (every identity that ever had it, deleted ones included); `action` matches exactly, or
 * by prefix when it ends in `*` (`target.*`). `from` is inclusive, `to` exclusive.
 */
export const auditFilterSchema = z.strictObject({
  identity: z.string().trim().min(1).max(300).optional(),
  actor: z.string().min(1).max(300).optional(),
  action: z.string().min(1).max(200).optional(),
  system: z.string().min(1).max(100).optional(),
  event: z.uuid({ error: 'must be a lifecycle event id (a UUID)' }).optional(),
  from: instant.optional(),
  to: instant.optional(),
});
export type AuditFilter = z.output<typeof auditFilterSchema>;

export const auditPageSchema = auditFilterSchema.extend({
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
  cursor: cursorSchema.optional(),
});
/** Unparsed, as flags and query parameters arrive. */
export type AuditPageInput = { [K in keyof z.input<typeof auditPageSchema>]?: string | number };

/** The identity ids a filter value names: itself if it is a UUID, else those of that userName. */
export async function identitiesNamed(db: Database, idOrUserName: string): Promise<string[]> {
  if (UUID.test(idOrUserName)) return [idOrUserName.toLowerCase()];
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id FROM identity WHERE lower(user_name) = lower(${idOrUserName}) ORDER BY created_at, id`;
  return rows.map((row) => row.id);
}

export async function auditWhere(db: Database, filter: AuditFilter): Promise<Prisma.AuditEventWhereInput> {
  const where: Prisma.AuditEventWhereInput = {
    actor: filter.actor,
    system: filter.system,
    eventId: filter.event,
    occurredAt: { gte: filter.from, lt: filter.to },
  };
  if (filter.action) where.action = filter.action.endsWith('*') ? { startsWith: filter.action.slice(0, -1) } : filter.action;
  if (filter.identity !== undefined) where.identityId = { in: await identitiesNamed(db, filter.identity) };
  return where;
}

export interface AuditPage {
  rows: AuditRowView[];
  nextCursor: string | null;
}

/** One page, oldest first; keyset pagination on id, so pages hold still while rows arrive. */
export async function listAudit(db: Database, input: AuditPageInput): Promise<AuditPage> {
  const { limit, cursor, ...filter } = auditPageSchema.parse(input);
  const where = await auditWhere(db, filter);
  if (cursor !== undefined) where.id = { gt: cursor };
  const rows = await db.auditEvent.findMany({ where, orderBy: { id: 'asc' }, take: limit + 1 });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { rows: page.map(auditRowView), nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null };
}

/** Every matching row, a batch at a time (for exports of any size). */
export async function* streamAudit(db: Database, filter: AuditFilter, batchSize = 1000): AsyncGenerator<AuditEvent> {
  const where = await auditWhere(db, filter);
  let after: bigint | undefined;
  for (;;) {
    const rows = await db.auditEvent.findMany({
      where: after === undefined ? where : { AND: [where, { id: { gt: after } }] },
      orderBy: { id: 'asc' },
      take: batchSize,
    });
    yield* rows;
    if (rows.length < batchSize) return;
    after = rows.at(-1)!.id;
  }
}
