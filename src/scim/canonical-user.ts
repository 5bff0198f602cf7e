// The SCIM User representation that scimmy's coercion gives back unchanged, read from scimmy's
// own schema definition (core User, EnterpriseUser, jml's lifecycle extension), and the answer
// scimmy would build from it. Constructing a `Schemas.User` costs 0.4-0.6 ms of CPU (an accessor
// per attribute per instance, every value coerced twice: docs/decisions/054-scim-write-cpu.md);
// for a representation jml stored itself, or one a client sent already in that form, every such
// construction returns what it was given. Writes of such representations skip them
// (docs/decisions/060-scim-writes-without-coercion.md); anything else takes scimmy's path, and
// test/scim/canonical-user.test.ts compares both against scimmy itself.
import SCIMMY from 'scimmy';
import type { ScimUser } from './user-mapping.js';

type Json = Record<string, unknown>;

/** What is read of a scimmy Attribute (types.js). */
interface AttributeShape {
  name: string;
  type: string;
  config: { direction?: string; returned?: unknown; mutable?: unknown; required?: unknown; multiValued?: unknown; shadow?: unknown; canonicalValues?: unknown };
  subAttributes?: AttributeShape[];
}

/** The attributes of one level (the core schema, an extension, a complex attribute's sub-attributes). */
interface Level {
  /** Every declared attribute, in the schema's order: the order scimmy writes them in. */
  declared: AttributeShape[];
  /** The attributes a canonical value may hold, by their exact name. */
  canonical: Map<string, { attribute: AttributeShape; level?: Level }>;
  required: string[];
}

interface Plan {
  definition: { id: string; name: string; attributes: unknown[] };
  attributeCount: number;
  core: Level;
  extensions: { id: string; required: boolean; level: Level }[];
}

// RFC 7643 §2.3.5: a dateTime is an xsd:dateTime; scimmy writes it as Date#toISOString.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A JSON object: not null, not a list, not a Date. */
export function isPlainObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * An attribute scimmy passes through in both directions and returns by default: read and written
 * (a password is 'in' only, groups 'out' only), returned (a password is not), mutable (scimmy's
 * PatchOp refuses to change the others). References are left to scimmy: whether a string is a
 * valid reference is its call (validate.reference), and IdPs do not send them in leaver traffic.
 */
function passesThrough(attribute: AttributeShape): boolean {
  const { direction, returned, mutable, shadow } = attribute.config;
  return direction === 'both' && returned === true && mutable === true && (shadow !== true || attribute.name === 'externalId')
    && ['string', 'boolean', 'dateTime', 'complex'].includes(attribute.type);
}

function levelOf(attributes: AttributeShape[]): Level {
  const canonical = new Map<string, { attribute: AttributeShape; level?: Level }>();
  for (const attribute of attributes) {
    if (!passesThrough(attribute)) continue;
    canonical.set(attribute.name, { attribute, level: attribute.type === 'complex' ? levelOf(attribute.subAttributes ?? []) : undefined });
  }
  return { declared: attributes, canonical, required: attributes.filter((attribute) => attribute.config.required === true && attribute.config.shadow !== true).map(({ name }) => name) };
}

let cached: Plan | undefined;

/** The User schema as declared (users.ts extends it once per process), read once. */
function plan(): Plan {
  const definition = SCIMMY.Schemas.User.definition as unknown as Plan['definition'];
  if (cached && cached.definition === definition && cached.attributeCount === definition.attributes.length) return cached;
  const attributes = definition.attributes.filter((attribute) => attribute instanceof SCIMMY.Types.Attribute) as unknown as AttributeShape[];
  const extensions = definition.attributes
    .filter((attribute) => attribute instanceof SCIMMY.Types.SchemaDefinition)
    .map((extension) => {
      const { id, required, attributes: own } = extension as { id: string; required?: boolean; attributes: AttributeShape[] };
      return { id, required: required === true, level: levelOf(own) };
    });
  cached = { definition, attributeCount: definition.attributes.length, core: levelOf(attributes), extensions };
  return cached;
}

function valueIsCanonical(entry: { attribute: AttributeShape; level?: Level }, value: unknown): boolean {
  const { attribute, level } = entry;
  const single = (item: unknown): boolean => {
    switch (attribute.type) {
      case 'string': {
        const allowed = attribute.config.canonicalValues;
        return typeof item === 'string' && item.length > 0 && (!Array.isArray(allowed) || allowed.includes(item));
      }
      case 'boolean':
        return typeof item === 'boolean';
      case 'dateTime':
        return typeof item === 'string' && ISO_DATE.test(item) && new Date(item).toISOString() === item;
      case 'complex':
        return isPlainObject(item) && levelIsCanonical(level!, item);
      default:
        return false;
    }
  };
  if (attribute.config.multiValued === true) return Array.isArray(value) && value.length > 0 && value.every(single);
  return single(value);
}

/** No empty objects, every key an attribute spelled as the schema spells it, the required ones present. */
function levelIsCanonical(level: Level, value: Json): boolean {
  const keys = Object.keys(value);
  if (keys.length === 0) return false;
  for (const key of keys) {
    const entry = level.canonical.get(key);
    if (!entry || !valueIsCanonical(entry, value[key])) return false;
  }
  return level.required.every((name) => name in value);
}

/**
 * Whether scimmy's coercion of this User representation (without `id` and `meta`), inbound or
 * outbound, is the representation itself: every key an attribute of the declared schema spelled
 * as the schema spells it, read and written both ways, returned by default and mutable; every
 * value a non-empty string (within its canonical values), a boolean, an ISO date, or a complex
 * value of those; no nulls, empty lists or empty objects; the required attributes present; and
 * `schemas` exactly the core schema and the extensions present, in the schema's order.
 */
export function isCanonicalUser(resource: ScimUser): boolean {
  const { core, extensions, definition } = plan();
  const expected = [definition.id, ...extensions.filter(({ id }) => id in resource).map(({ id }) => id)];
  const { schemas } = resource;
  if (!Array.isArray(schemas) || schemas.length !== expected.length || schemas.some((schema, index) => schema !== expected[index])) return false;
  for (const key of Object.keys(resource)) {
    if (key === 'schemas') continue;
    const extension = extensions.find(({ id }) => id === key);
    if (extension) {
      const value = resource[key];
      if (!isPlainObject(value) || !levelIsCanonical(extension.level, value)) return false;
      continue;
    }
    const entry = core.canonical.get(key);
    if (!entry || !valueIsCanonical(entry, resource[key])) return false;
  }
  return core.required.every((name) => name in resource) && extensions.every(({ id, required }) => !required || id in resource);
}

/** A canonical value with every level's keys in the schema's order, as scimmy writes them. */
function ordered(entry: { attribute: AttributeShape; level?: Level }, value: unknown): unknown {
  if (!entry.level) return Array.isArray(value) ? [...(value as unknown[])] : value;
  const { level } = entry;
  const one = (item: Json) => orderedLevel(level, item);
  return Array.isArray(value) ? (value as Json[]).map(one) : one(value as Json);
}

function orderedLevel(level: Level, value: Json): Json {
  const out: Json = {};
  for (const { name } of level.declared) {
    if (value[name] !== undefined) out[name] = ordered(level.canonical.get(name)!, value[name]);
  }
  return out;
}

const isoOf = (date: unknown) => (date === undefined ? undefined : new Date(date as string | Date).toISOString());

/**
 * The JSON scimmy answers for a canonical User (`new Schemas.User(user, 'out', basepath)` without
 * an `attributes` projection): `schemas`, `id`, `externalId`, `meta` (resourceType, created,
 * lastModified, location, version) and then every attribute and extension in the schema's order.
 * `user` is what identityToScim shows: a canonical representation with `id` and `meta`.
 */
export function userOut(user: ScimUser, basepath: string): ScimUser {
  const { core, extensions, definition } = plan();
  const id = user.id as string;
  const meta = (user.meta ?? {}) as Json;
  const out: Json = {};
  for (const attribute of core.declared) {
    const { name } = attribute;
    if (name === 'id') out.id = id;
    else if (name === 'schemas') out.schemas = [...(user.schemas as string[])];
    else if (name === 'meta') {
      const shown: Json = { resourceType: definition.name, created: isoOf(meta.created), lastModified: isoOf(meta.lastModified), location: `${basepath}/${id}`, version: meta.version };
      out.meta = Object.fromEntries(Object.entries(shown).filter(([, value]) => value !== undefined));
    } else if (user[name] !== undefined) out[name] = ordered(core.canonical.get(name)!, user[name]);
  }
  for (const { id: urn, level } of extensions) {
    if (user[urn] !== undefined) out[urn] = orderedLevel(level, user[urn] as Json);
  }
  return out;
}
