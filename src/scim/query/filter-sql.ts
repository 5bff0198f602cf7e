// Translates a parsed SCIM filter (RFC 7644 §3.4.2.2) into a WHERE fragment over the table an
// AttributeMap describes. Values are always bound parameters. Every fragment is true or false,
// never NULL (an absent value does not match, and does not make `not` match nothing either).
import { Prisma } from '../../generated/prisma/client.js';
import {
  attributeName,
  resolveAttribute,
  type AttributeMap,
  type AttributeType,
  type ResolvedAttribute,
  type ValueColumn,
} from './attributes.js';
import type { AttributePath, ComparisonOperator, FilterExpression, FilterValue } from './filter-parser.js';
import { ScimQueryError } from './query-error.js';

/** Inside `attr[...]`, names are sub-attributes of attr (RFC 7644 §3.4.2.2, valuePath). */
type Scope = { kind: 'resource' } | { kind: 'values'; parent: string; subAttributes: ReadonlyMap<string, ValueColumn> };

const RESOURCE_SCOPE: Scope = { kind: 'resource' };

// RFC 3339 date-time (RFC 7643 §2.3.5), also the date-only form some clients send.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$/;
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ORDERING = { gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

function isStringType(type: AttributeType): boolean {
  return type === 'string' || type === 'reference' || type === 'binary';
}

/** LIKE treats %, _ and \ specially; a client's value is matched literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (character) => `\\${character}`);
}

function describeValue(value: FilterValue): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}

function invalid(name: string, op: string, value: FilterValue | undefined, why: string): ScimQueryError {
  const expression = value === undefined ? `${name} ${op}` : `${name} ${op} ${describeValue(value)}`;
  return new ScimQueryError(`'${expression}' cannot be evaluated: ${why}`);
}

function present(column: ValueColumn): Prisma.Sql {
  // RFC 7644 §3.4.2.2 "pr": a non-empty value. An empty string is no value.
  if (isStringType(column.type)) return Prisma.sql`(${column.sql} IS NOT NULL AND ${column.sql} <> '')`;
  return column.nullable ? Prisma.sql`(${column.sql} IS NOT NULL)` : Prisma.sql`TRUE`;
}

function guarded(column: ValueColumn, comparison: Prisma.Sql): Prisma.Sql {
  return column.nullable ? Prisma.sql`(${column.sql} IS NOT NULL AND ${comparison})` : Prisma.sql`(${comparison})`;
}

function compareString(column: ValueColumn, op: Exclude<ComparisonOperator, 'ne'>, value: string): Prisma.Sql {
  // RFC 7644 §3.4.2.2: caseExact decides case sensitivity. lower() on both sides (not ILIKE) so
  // that an index on lower(column) serves eq and sw.
  const fold = (sql: Prisma.Sql) => (column.caseExact ? sql : Prisma.sql`lower(${sql})`);
  const actual = fold(column.sql);
  const like = (pattern: string) => Prisma.sql`${actual} LIKE ${fold(Prisma.sql`${pattern}::text`)} ESCAPE '\\'`;
  switch (op) {
    case 'eq':
      return Prisma.sql`${actual} = ${fold(Prisma.sql`${value}::text`)}`;
    case 'co':
      return like(`%${escapeLike(value)}%`);
    case 'sw':
      return like(`${escapeLike(value)}%`);
    case 'ew':
      return like(`%${escapeLike(value)}`);
    default:
      // "lexicographical comparison": code point order, whatever the database's locale.
      return Prisma.sql`${actual} COLLATE "C" ${Prisma.raw(ORDERING[op])} ${fold(Prisma.sql`${value}::text`)}`;
  }
}

/** One comparison on one value, as a NULL-free boolean. */
function compare(column: ValueColumn, name: string, op: ComparisonOperator, filterValue: FilterValue, unquoted?: string): Prisma.Sql {
  // `externalId eq 1001`: a string attribute compared with an unquoted number or boolean means the
  // text as written (leading zeros kept), not a type error.
  const value = unquoted !== undefined && isStringType(column.type) ? unquoted : filterValue;
  if (value === null) {
    // `attr eq null` asks for an absent value and `attr ne null` for a present one.
    if (op === 'eq') return Prisma.sql`NOT ${present(column)}`;
    if (op === 'ne') return present(column);
    throw invalid(name, op, value, 'null can only be compared with eq or ne');
  }
  const ordering = op === 'gt' || op === 'ge' || op === 'lt' || op === 'le';
  const substring = op === 'co' || op === 'sw' || op === 'ew';

  if (isStringType(column.type)) {
    if (typeof value !== 'string') throw invalid(name, op, value, `${name} is a string; compare it with a "quoted" value`);
    if (column.uuid && (op === 'eq' || op === 'ne')) {
      // A uuid's text is lower-case canonical, so any other spelling is exactly unequal.
      const equal = CANONICAL_UUID.test(value) ? Prisma.sql`${column.uuid} = ${value}::uuid` : Prisma.sql`FALSE`;
      return op === 'eq' ? Prisma.sql`(${equal})` : Prisma.sql`NOT (${equal})`;
    }
    const comparison = compareString(column, op === 'ne' ? 'eq' : op, value);
    return op === 'ne' ? Prisma.sql`NOT ${guarded(column, comparison)}` : guarded(column, comparison);
  }

  if (column.type === 'boolean') {
    // Microsoft Entra ID sends booleans as strings ("True"), as src/scim/dialect/request.ts notes for bodies.
    const parsed = typeof value === 'string' ? ({ true: true, false: false } as Record<string, boolean>)[value.toLowerCase()] : value;
    if (typeof parsed !== 'boolean') throw invalid(name, op, value, `${name} is a boolean; compare it with true or false`);
    if (op !== 'eq' && op !== 'ne') throw invalid(name, op, value, `a boolean can only be compared with eq or ne`);
    const equal = guarded(column, Prisma.sql`${column.sql} = ${parsed}::boolean`);
    return op === 'eq' ? equal : Prisma.sql`NOT ${equal}`;
  }

  if (substring) throw invalid(name, op, value, `${op} applies to strings; ${name} is a ${column.type}`);

  let operand: Prisma.Sql;
  if (column.type === 'dateTime') {
    if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
      throw invalid(name, op, value, `${name} is a dateTime; compare it with a quoted date such as "2011-05-13T04:42:34Z"`);
    }
    operand = Prisma.sql`${value}::timestamptz`;
  } else {
    if (typeof value !== 'number') throw invalid(name, op, value, `${name} is a number; compare it with an unquoted number`);
    operand = Prisma.sql`${value}::numeric`;
  }
  const operator = ordering ? ORDERING[op] : '=';
  const comparison = guarded(column, Prisma.sql`${column.sql} ${Prisma.raw(operator)} ${operand}`);
  return op === 'ne' ? Prisma.sql`NOT ${comparison}` : comparison;
}

function resolveInScope(path: AttributePath, scope: Scope, map: AttributeMap): ResolvedAttribute {
  if (scope.kind === 'values') {
    const column = scope.subAttributes.get(path.attribute.toLowerCase());
    if (!column) throw new ScimQueryError(`'${scope.parent}' has no sub-attribute '${path.attribute}' to filter on`);
    return { kind: 'value', column };
  }
  const resolved = resolveAttribute(map, path);
  // RFC 7644 §3.12: an attribute the provider cannot filter on is an invalidFilter, not a silent
  // empty result: a client probing "does this user exist?" must not be told "no" by a typo.
  if (resolved.kind === 'unknown') throw new ScimQueryError(resolved.reason);
  return resolved;
}

function attributeExpression(path: AttributePath, scope: Scope, map: AttributeMap, test: (column: ValueColumn, name: string) => Prisma.Sql, op: string): Prisma.Sql {
  const name = scope.kind === 'values' ? `${scope.parent}.${path.attribute}` : attributeName(path);
  const resolved = resolveInScope(path, scope, map);
  switch (resolved.kind) {
    case 'value':
      return test(resolved.column, name);
    case 'multiValued':
      if (!resolved.column) {
        if (op === 'pr') return resolved.definition.anyValue(Prisma.sql`TRUE`);
        throw new ScimQueryError(`'${name}' has no single value to compare: name a sub-attribute, as in ${name}.type`);
      }
      // RFC 7644 §3.4.2.2: on a multi-valued attribute the filter matches if any value matches.
      return resolved.definition.anyValue(test(resolved.column, name));
    case 'complex': {
      if (op !== 'pr') throw new ScimQueryError(`'${name}' is complex: name a sub-attribute, as in name.givenName (RFC 7644 §3.4.2.2)`);
      // A complex attribute is present when any of its sub-attributes is.
      return Prisma.sql`(${Prisma.join([...resolved.subAttributes.values()].map(present), ' OR ')})`;
    }
  }
}

function translate(expression: FilterExpression, scope: Scope, map: AttributeMap): Prisma.Sql {
  switch (expression.op) {
    case 'and':
    case 'or':
      return Prisma.sql`(${Prisma.join(
        expression.operands.map((operand) => translate(operand, scope, map)),
        expression.op === 'and' ? ' AND ' : ' OR ',
      )})`;
    case 'not':
      return Prisma.sql`NOT ${translate(expression.operand, scope, map)}`;
    case 'pr':
      return attributeExpression(expression.path, scope, map, (column) => present(column), 'pr');
    case 'valuePath': {
      const name = attributeName(expression.path);
      const resolved = resolveInScope(expression.path, scope, map);
      if (resolved.kind === 'multiValued' && resolved.definition.subAttributes.size > 0) {
        // One and the same value must satisfy the whole bracketed filter.
        const inner = translate(expression.filter, { kind: 'values', parent: name, subAttributes: resolved.definition.subAttributes }, map);
        return resolved.definition.anyValue(inner);
      }
      if (resolved.kind === 'complex') {
        return translate(expression.filter, { kind: 'values', parent: name, subAttributes: resolved.subAttributes }, map);
      }
      throw new ScimQueryError(`'${name}[...]' filters values of a complex attribute; ${name} has no sub-attributes`);
    }
    default: {
      const { op, value, unquoted } = expression;
      return attributeExpression(expression.path, scope, map, (column, name) => compare(column, name, op, value, unquoted), op);
    }
  }
}

/**
 * A WHERE fragment selecting the resources that match `filter`. Throws ScimQueryError
 * (400 invalidFilter) for unknown attributes and for operator and value type combinations that
 * have no meaning, such as `active gt true` or `userName gt 5`.
 */
export function filterToSql(filter: FilterExpression, attributes: AttributeMap): Prisma.Sql {
  return translate(filter, RESOURCE_SCOPE, attributes);
}
