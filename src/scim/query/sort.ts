// ORDER BY for a SCIM list query (RFC 7644 §3.4.2.3), always ending in a unique key so that pages
// never overlap or skip a resource (RFC 7644 §3.4.2.4 paging relies on a stable order).
import { Prisma } from '../../generated/prisma/client.js';
import { resolveAttribute, type AttributeMap, type ValueColumn } from './attributes.js';
import { parseAttributePath } from './filter-parser.js';
import { ScimQueryError } from './query-error.js';

export type SortOrder = 'ascending' | 'descending';

/** RFC 7644 §3.4.2.3: "ascending" or "descending"; ascending when sortBy comes alone. */
function parseSortOrder(sortOrder: string | undefined): SortOrder {
  if (sortOrder === undefined || sortOrder === '') return 'ascending';
  const normalised = sortOrder.toLowerCase();
  if (normalised === 'ascending' || normalised === 'descending') return normalised;
  throw new ScimQueryError(`sortOrder must be "ascending" or "descending", not "${sortOrder}"`, 'invalidValue');
}

function sortKey(column: ValueColumn, sql: Prisma.Sql): Prisma.Sql {
  if (column.type !== 'string' && column.type !== 'reference' && column.type !== 'binary') return sql;
  // RFC 7644 §3.4.2.3: case-insensitive attributes sort case-insensitively, in Unicode order
  // "with no specific locale implied": code points, whatever the database's collation.
  return column.caseExact ? Prisma.sql`${sql} COLLATE "C"` : Prisma.sql`lower(${sql}) COLLATE "C"`;
}

/**
 * `ORDER BY ...` for sortBy and sortOrder. Resources without a value sort last when ascending and
 * first when descending (RFC 7644 §3.4.2.3); a multi-valued attribute sorts by its primary value,
 * else its first. Throws ScimQueryError (400 invalidValue) for an attribute that cannot be sorted on.
 */
export function sortToSql(sortBy: string | undefined, sortOrder: string | undefined, attributes: AttributeMap): Prisma.Sql {
  const tiebreaker = Prisma.sql`${attributes.tiebreaker} ASC`;
  if (sortBy === undefined || sortBy.trim() === '') {
    return Prisma.sql`ORDER BY ${Prisma.join([...attributes.defaultOrder.map((key) => Prisma.sql`${key} ASC`), tiebreaker], ', ')}`;
  }
  const direction = parseSortOrder(sortOrder) === 'ascending' ? Prisma.sql`ASC NULLS LAST` : Prisma.sql`DESC NULLS FIRST`;
  const path = parseAttributePath(sortBy);
  if (!path) throw new ScimQueryError(`sortBy "${sortBy}" is not an attribute path such as name.familyName`, 'invalidValue');
  const resolved = resolveAttribute(attributes, path);
  let key: Prisma.Sql;
  switch (resolved.kind) {
    case 'unknown':
      throw new ScimQueryError(`sortBy: ${resolved.reason}`, 'invalidValue');
    case 'complex':
      throw new ScimQueryError(`sortBy "${sortBy}" is complex: name a sub-attribute, as in name.familyName`, 'invalidValue');
    case 'value':
      key = sortKey(resolved.column, resolved.column.sql);
      break;
    case 'multiValued':
      if (!resolved.column) throw new ScimQueryError(`sortBy "${sortBy}" has no single value: name a sub-attribute, as in ${path.attribute}.type`, 'invalidValue');
      key = sortKey(resolved.column, resolved.column.sortSql);
      break;
  }
  return Prisma.sql`ORDER BY ${key} ${direction}, ${tiebreaker}`;
}
