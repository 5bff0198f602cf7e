// Where each filterable and sortable SCIM attribute lives in PostgreSQL: a column when the
// attribute is copied out of the representation, else a jsonb path into `resource`; its type and
// caseExact characteristic (RFC 7643 §2.2, §7; scimmy's User and EnterpriseUser definitions) and,
// for multi-valued attributes, how to ask whether any value matches (RFC 7644 §3.4.2.2).
// The table is per resource type: a Group map is built from the same pieces over its own table.
import { Prisma } from '../../generated/prisma/client.js';
import type { AttributePath } from './filter-parser.js';

/** RFC 7643 §2.3 data types that a filter can compare. */
export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'binary';

/** One comparable value: SQL for it, with what decides how it compares. */
export interface ValueColumn {
  type: AttributeType;
  /** RFC 7643 §2.2: caseExact defaults to false; reference and binary values are case-exact. */
  caseExact: boolean;
  /** Over the row, or over `element` (one value of a multi-valued attribute). */
  sql: Prisma.Sql;
  /** False for NOT NULL columns, which need no presence guard. */
  nullable: boolean;
  /** For a uuid column (whose `sql` is its text): the column itself, so eq and ne use its index. */
  uuid?: Prisma.Sql;
}

/** A sub-attribute of a multi-valued attribute, with how a sort reads it. */
export interface MultiValueColumn extends ValueColumn {
  /** RFC 7644 §3.4.2.3: sort by the primary value's sub-attribute, else the first value's. */
  sortSql: Prisma.Sql;
}

export type AttributeDefinition =
  | ({ kind: 'simple' } & ValueColumn)
  | { kind: 'complex'; subAttributes: ReadonlyMap<string, ValueColumn> }
  | {
      kind: 'multiValued';
      /** True when some value satisfies `condition`, which reads one value as `element`. */
      anyValue(condition: Prisma.Sql): Prisma.Sql;
      subAttributes: ReadonlyMap<string, MultiValueColumn>;
      /** What the attribute means when named alone: `emails` is `emails.value` (RFC 7644 §3.4.2.2). */
      value?: MultiValueColumn;
    };

export interface AttributeMap {
  resourceType: string;
  /** Unqualified names are looked up in this schema first, then in the extensions in order. */
  coreSchema: string;
  /** Lower-cased schema URN → lower-cased attribute name → definition. */
  schemas: ReadonlyMap<string, ReadonlyMap<string, AttributeDefinition>>;
  /** The order without sortBy: oldest first, so resources created while a client pages land on later pages. */
  defaultOrder: Prisma.Sql[];
  /** The unique, never-null key that makes every ordering total. */
  tiebreaker: Prisma.Sql;
}

/** An attribute path resolved against a map. */
export type ResolvedAttribute =
  | { kind: 'value'; column: ValueColumn }
  | { kind: 'complex'; subAttributes: ReadonlyMap<string, ValueColumn> }
  | { kind: 'multiValued'; definition: Extract<AttributeDefinition, { kind: 'multiValued' }>; column?: MultiValueColumn };

/** A reason the path does not resolve, for the caller's error message. */
export type Unresolved = { kind: 'unknown'; reason: string };

// ---- building blocks --------------------------------------------------------------------------

const SAFE_NAME = /^[\w:.$-]+$/;

function literal(text: string): Prisma.Sql {
  // Only names from the tables below reach raw SQL; this keeps it that way.
  if (!SAFE_NAME.test(text)) throw new Error(`Unsafe name in an attribute map: ${text}`);
  return Prisma.raw(`'${text}'`);
}

function quoted(identifier: string): Prisma.Sql {
  if (!/^\w+$/.test(identifier)) throw new Error(`Unsafe identifier in an attribute map: ${identifier}`);
  return Prisma.raw(`"${identifier}"`);
}

interface Characteristics {
  caseExact?: boolean;
  nullable?: boolean;
}

function caseExactByDefault(type: AttributeType): boolean {
  return type === 'reference' || type === 'binary';
}

/** A column of `table`. */
export function column(table: string, name: string, type: AttributeType, options: Characteristics & { uuid?: boolean } = {}): ValueColumn {
  const raw = Prisma.sql`${quoted(table)}.${quoted(name)}`;
  return {
    type,
    caseExact: options.caseExact ?? caseExactByDefault(type),
    sql: options.uuid ? Prisma.sql`${raw}::text` : raw,
    nullable: options.nullable ?? true,
    ...(options.uuid ? { uuid: raw } : {}),
  };
}

/** A constant every row has, such as meta.resourceType. */
export function constant(value: string): ValueColumn {
  return { type: 'string', caseExact: true, sql: Prisma.sql`${literal(value)}::text`, nullable: false };
}

function cast(text: Prisma.Sql, type: AttributeType): Prisma.Sql {
  switch (type) {
    case 'boolean':
      return Prisma.sql`(${text})::boolean`;
    case 'decimal':
    case 'integer':
      return Prisma.sql`(${text})::numeric`;
    case 'dateTime':
      return Prisma.sql`(${text})::timestamptz`;
    default:
      return text;
  }
}

/** A value inside a jsonb document: `base -> key -> ... ->> last`, cast to its type. */
export function jsonValue(base: Prisma.Sql, keys: string[], type: AttributeType, options: Characteristics = {}): ValueColumn {
  const last = keys[keys.length - 1];
  if (last === undefined) throw new Error('A jsonb attribute needs at least one key');
  const parent = keys.slice(0, -1).reduce((document, key) => Prisma.sql`${document} -> ${literal(key)}`, base);
  const text = Prisma.sql`(${parent} ->> ${literal(last)})`;
  return { type, caseExact: options.caseExact ?? caseExactByDefault(type), sql: cast(text, type), nullable: true };
}

/** The alias one value of a multi-valued attribute has inside anyValue's condition. */
export const ELEMENT = Prisma.raw('element');

type SubAttributeSpec = [name: string, type: AttributeType, options?: Characteristics & { sortSql?: Prisma.Sql }];

/**
 * A multi-valued attribute stored as a jsonb array. Sub-attributes of complex values are keys of
 * each element; a multi-valued attribute of simple values (`schemas`) has no sub-attributes and
 * its `value` is the element itself.
 */
export function jsonArray(array: Prisma.Sql, subAttributes: SubAttributeSpec[], simple?: { type: AttributeType }): AttributeDefinition {
  // A document that is not an array (it never should be) reads as no values instead of failing the query.
  const values = Prisma.sql`jsonb_array_elements(CASE WHEN jsonb_typeof(${array}) = 'array' THEN ${array} END)`;
  const primaryOrFirst = (expression: Prisma.Sql) =>
    Prisma.sql`(SELECT ${expression} FROM ${values} WITH ORDINALITY AS elements(element, position)
      ORDER BY coalesce(element ->> 'primary' = 'true', false) DESC, position LIMIT 1)`;
  const sub = ([name, type, options = {}]: SubAttributeSpec): [string, MultiValueColumn] => {
    const value = jsonValue(ELEMENT, [name], type, options);
    return [name.toLowerCase(), { ...value, sortSql: options.sortSql ?? primaryOrFirst(value.sql) }];
  };
  const map = new Map(subAttributes.map(sub));
  let value = map.get('value');
  if (simple) {
    const sql = cast(Prisma.sql`(element #>> '{}')`, simple.type);
    value = { type: simple.type, caseExact: caseExactByDefault(simple.type), sql, nullable: true, sortSql: primaryOrFirst(sql) };
  }
  return {
    kind: 'multiValued',
    anyValue: (condition) => Prisma.sql`EXISTS (SELECT 1 FROM ${values} AS elements(element) WHERE ${condition})`,
    subAttributes: map,
    ...(value ? { value } : {}),
  };
}

export function simple(value: ValueColumn): AttributeDefinition {
  return { kind: 'simple', ...value };
}

export function complex(subAttributes: Record<string, ValueColumn>): AttributeDefinition {
  return { kind: 'complex', subAttributes: new Map(Object.entries(subAttributes).map(([name, value]) => [name.toLowerCase(), value])) };
}

export function schema(attributes: Record<string, AttributeDefinition>): ReadonlyMap<string, AttributeDefinition> {
  return new Map(Object.entries(attributes).map(([name, definition]) => [name.toLowerCase(), definition]));
}

// ---- resolution -------------------------------------------------------------------------------

function describe(path: AttributePath): string {
  const name = path.subAttribute === undefined ? path.attribute : `${path.attribute}.${path.subAttribute}`;
  return path.schema === undefined ? name : `${path.schema}:${name}`;
}

export function attributeName(path: AttributePath): string {
  return describe(path);
}

/** RFC 7644 §3.10: attribute names and schema URNs compare case-insensitively. */
export function resolveAttribute(map: AttributeMap, path: AttributePath): ResolvedAttribute | Unresolved {
  const name = path.attribute.toLowerCase();
  let definition: AttributeDefinition | undefined;
  if (path.schema !== undefined) {
    const attributes = map.schemas.get(path.schema.toLowerCase());
    if (!attributes) return { kind: 'unknown', reason: `'${path.schema}' is not a schema of ${map.resourceType}` };
    definition = attributes.get(name);
  } else {
    const core = map.schemas.get(map.coreSchema.toLowerCase());
    definition = core?.get(name);
    // Extension attributes are often sent unqualified (`department`); the first schema that has it wins.
    for (const attributes of map.schemas.values()) definition ??= attributes.get(name);
  }
  if (!definition) return { kind: 'unknown', reason: `'${describe(path)}' is not a ${map.resourceType} attribute that can be filtered or sorted on` };
  const sub = path.subAttribute?.toLowerCase();
  switch (definition.kind) {
    case 'simple':
      if (sub !== undefined) return { kind: 'unknown', reason: `'${path.attribute}' has no sub-attribute '${path.subAttribute}'` };
      return { kind: 'value', column: definition };
    case 'complex': {
      if (sub === undefined) return { kind: 'complex', subAttributes: definition.subAttributes };
      const column = definition.subAttributes.get(sub);
      return column ? { kind: 'value', column } : { kind: 'unknown', reason: `'${path.attribute}' has no sub-attribute '${path.subAttribute}'` };
    }
    case 'multiValued': {
      if (sub === undefined) return { kind: 'multiValued', definition, ...(definition.value ? { column: definition.value } : {}) };
      const column = definition.subAttributes.get(sub);
      return column ? { kind: 'multiValued', definition, column } : { kind: 'unknown', reason: `'${path.attribute}' has no sub-attribute '${path.subAttribute}'` };
    }
  }
}

// ---- Users ------------------------------------------------------------------------------------

export const CORE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const IDENTITY = 'identity';
const RESOURCE = Prisma.sql`${quoted(IDENTITY)}."resource"`;
const ENTERPRISE = Prisma.sql`(${RESOURCE} -> ${literal(ENTERPRISE_USER_SCHEMA)})`;

const identityColumn = (name: string, type: AttributeType, options?: Characteristics & { uuid?: boolean }) => column(IDENTITY, name, type, options);
const userJson = (keys: string[], type: AttributeType = 'string', options?: Characteristics) => jsonValue(RESOURCE, keys, type, options);
const userArray = (key: string) => Prisma.sql`(${RESOURCE} -> ${literal(key)})`;

/** value, display, type, primary: the sub-attributes most multi-valued attributes share (RFC 7643 §2.4). */
function plural(valueType: AttributeType = 'string', extra: SubAttributeSpec[] = [], valueOptions: SubAttributeSpec[2] = {}): SubAttributeSpec[] {
  return [['value', valueType, valueOptions], ['display', 'string'], ['type', 'string'], ['primary', 'boolean'], ...extra];
}

/** RFC 7643 §4.1 (User) and §4.3 (EnterpriseUser), as declared by scimmy's schemas. */
export const USER_ATTRIBUTES: AttributeMap = {
  resourceType: 'User',
  coreSchema: CORE_USER_SCHEMA,
  defaultOrder: [Prisma.sql`${quoted(IDENTITY)}."created_at"`],
  tiebreaker: Prisma.sql`${quoted(IDENTITY)}."id"`,
  schemas: new Map([
    [
      CORE_USER_SCHEMA.toLowerCase(),
      schema({
        // RFC 7643 §3.1: id and externalId are case-exact; meta is the service provider's.
        id: simple(identityColumn('id', 'string', { caseExact: true, nullable: false, uuid: true })),
        externalId: simple(identityColumn('external_id', 'string', { caseExact: true })),
        meta: complex({
          created: identityColumn('created_at', 'dateTime', { nullable: false }),
          lastModified: identityColumn('updated_at', 'dateTime', { nullable: false }),
          resourceType: constant('User'),
          // The weak ETag identityToScim reports (src/scim/user-mapping.ts).
          version: { type: 'string', caseExact: true, nullable: false, sql: Prisma.sql`('W/"' || ${quoted(IDENTITY)}."version" || '"')` },
        }),
        schemas: jsonArray(userArray('schemas'), [], { type: 'reference' }),
        userName: simple(identityColumn('user_name', 'string', { nullable: false })),
        name: complex({
          formatted: userJson(['name', 'formatted']),
          familyName: identityColumn('family_name', 'string'),
          givenName: identityColumn('given_name', 'string'),
          middleName: userJson(['name', 'middleName']),
          honorificPrefix: userJson(['name', 'honorificPrefix']),
          honorificSuffix: userJson(['name', 'honorificSuffix']),
        }),
        displayName: simple(identityColumn('display_name', 'string')),
        nickName: simple(userJson(['nickName'])),
        profileUrl: simple(userJson(['profileUrl'], 'reference')),
        title: simple(identityColumn('title', 'string')),
        userType: simple(userJson(['userType'])),
        preferredLanguage: simple(userJson(['preferredLanguage'])),
        locale: simple(userJson(['locale'])),
        timezone: simple(userJson(['timezone'])),
        active: simple(identityColumn('active', 'boolean', { nullable: false })),
        // The email column holds the primary value, else the first: what a sort on emails wants.
        emails: jsonArray(userArray('emails'), plural('string', [], { sortSql: identityColumn('email', 'string').sql })),
        phoneNumbers: jsonArray(userArray('phoneNumbers'), plural()),
        ims: jsonArray(userArray('ims'), plural()),
        photos: jsonArray(userArray('photos'), plural('reference')),
        addresses: jsonArray(userArray('addresses'), [
          ['formatted', 'string'],
          ['streetAddress', 'string'],
          ['locality', 'string'],
          ['region', 'string'],
          ['postalCode', 'string'],
          ['country', 'string'],
          ['type', 'string'],
          ['primary', 'boolean'],
        ]),
        groups: jsonArray(userArray('groups'), [['value', 'string'], ['$ref', 'reference'], ['display', 'string'], ['type', 'string']]),
        entitlements: jsonArray(userArray('entitlements'), plural()),
        roles: jsonArray(userArray('roles'), plural()),
        x509Certificates: jsonArray(userArray('x509Certificates'), plural('binary')),
      }),
    ],
    [
      ENTERPRISE_USER_SCHEMA.toLowerCase(),
      schema({
        employeeNumber: simple(identityColumn('employee_number', 'string')),
        costCenter: simple(identityColumn('cost_center', 'string')),
        organization: simple(identityColumn('organization', 'string')),
        division: simple(identityColumn('division', 'string')),
        department: simple(identityColumn('department', 'string')),
        manager: complex({
          value: identityColumn('manager_id', 'string'),
          $ref: jsonValue(ENTERPRISE, ['manager', '$ref'], 'reference'),
          displayName: jsonValue(ENTERPRISE, ['manager', 'displayName'], 'string'),
        }),
      }),
    ],
  ]),
};
