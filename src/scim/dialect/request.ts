// What SCIM clients send that RFC 7643/7644 means but does not spell that way, rewritten into the
// RFC's form before scimmy validates the request. Applied to every client, whatever its profile:
// accepting liberally costs nothing, and each refusal is a provisioning error in an IdP console.
// What the RFC does not allow is left for scimmy and jml to refuse with the right error type.

type Json = Record<string, unknown>;

export const CORE_USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const CORE_GROUP_URN = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE_USER_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIFECYCLE_USER_URN = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';
const KNOWN_USER_URNS = [CORE_USER_URN, ENTERPRISE_USER_URN, LIFECYCLE_USER_URN].map((urn) => urn.toLowerCase());
const CORE_URNS = [CORE_USER_URN, CORE_GROUP_URN].map((urn) => urn.toLowerCase());

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const BOOLEAN_STRINGS: Record<string, boolean> = { true: true, false: false };

/** Entra sends booleans as strings ("False"); RFC 7643 §2.3.2 says boolean. */
function booleanOf(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const parsed = BOOLEAN_STRINGS[value.toLowerCase()];
  return parsed === undefined ? value : parsed;
}

/**
 * `{"urn:ietf:params:scim:schemas:core:2.0:User": {"userName": ...}}`: RFC 7644 §3.10 lets any
 * attribute be named with its schema URN, and some clients nest the core schema's attributes the
 * way RFC 7643 §3 nests an extension's. The core schema's attributes are top-level; they are
 * lifted there (an attribute given both ways keeps the top-level value).
 */
function liftCoreSchema(body: Json): Json {
  const nested = Object.keys(body).filter((key) => CORE_URNS.includes(key.toLowerCase()) && isObject(body[key]));
  if (nested.length === 0) return body;
  const lifted: Json = {};
  for (const key of Object.keys(body)) if (!nested.includes(key)) lifted[key] = body[key];
  for (const key of nested) {
    for (const [attribute, value] of Object.entries(body[key] as Json)) if (!(attribute in lifted)) lifted[attribute] = value;
  }
  return lifted;
}

/**
 * Members given as a bare id (`"members": "2819c223"`) or an array of ids: RFC 7643 §4.2 makes
 * each member a complex value whose `value` is the id, which is plainly what was meant. Anything
 * else (a number, an object without value) is left as sent, for a 400 invalidValue.
 */
function membersOf(value: unknown): unknown {
  if (typeof value === 'string') return [{ value }];
  if (isObject(value)) return [value];
  if (!Array.isArray(value)) return value;
  return (value as unknown[]).map((member) => (typeof member === 'string' ? { value: member } : member));
}

function withoutNulls(value: unknown): unknown {
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== null));
}

/**
 * Entra sends each member as `{"$ref": null, "value": "<id>"}`. RFC 7643 §2.5 makes a null
 * sub-attribute the same as an absent one, but scimmy turns a removal's value into the filter
 * `$ref eq null and value eq "<id>"`, which matches no member: the removal would silently do
 * nothing. Null sub-attributes of multi-valued values are dropped.
 */
function withoutNullSubAttributes(value: unknown): unknown {
  return Array.isArray(value) ? value.map(withoutNulls) : value;
}

/**
 * HR sources add their own extension schema (Microsoft's API-driven inbound provisioning samples
 * use `urn:ietf:params:scim:schemas:extension:csv:1.0:User`, others a company URN). jml reads one
 * thing from such an extension, the person's termination date, into its lifecycle extension
 * (unless that is given already); the rest of an unknown extension is dropped, as RFC 7644 §3.3
 * lets a provider ignore what it does not define, and its URN leaves `schemas`.
 */
function liftHrExtensions(body: Json): Json {
  const unknown = Object.keys(body).filter((key) => key.toLowerCase().startsWith('urn:') && !KNOWN_USER_URNS.includes(key.toLowerCase()) && isObject(body[key]));
  if (unknown.length === 0) return body;
  const resource: Json = Object.fromEntries(Object.entries(body).filter(([key]) => !unknown.includes(key)));
  for (const key of unknown) {
    const extension = body[key] as Json;
    const dateKey = Object.keys(extension).find((attribute) => attribute.toLowerCase() === 'terminationdate');
    const date = dateKey === undefined ? undefined : extension[dateKey];
    if (typeof date !== 'string' || date === '') continue;
    const lifecycleKey = Object.keys(resource).find((candidate) => candidate.toLowerCase() === LIFECYCLE_USER_URN.toLowerCase()) ?? LIFECYCLE_USER_URN;
    const lifecycle = isObject(resource[lifecycleKey]) ? { ...(resource[lifecycleKey]) } : {};
    if (lifecycle.terminationDate === undefined) lifecycle.terminationDate = date;
    resource[lifecycleKey] = lifecycle;
  }
  if (Array.isArray(resource.schemas)) {
    const dropped = unknown.map((key) => key.toLowerCase());
    const schemas = (resource.schemas as unknown[]).filter((schema) => typeof schema !== 'string' || !dropped.includes(schema.toLowerCase()));
    if (Object.keys(resource).some((key) => key.toLowerCase() === LIFECYCLE_USER_URN.toLowerCase()) && !schemas.includes(LIFECYCLE_USER_URN)) schemas.push(LIFECYCLE_USER_URN);
    resource.schemas = schemas;
  }
  return resource;
}

function normaliseResource(body: Json, resourceType: ResourceType): Json {
  const lifted = liftCoreSchema(body);
  const resource = resourceType === 'Users' ? liftHrExtensions(lifted) : lifted;
  if ('active' in resource) resource.active = booleanOf(resource.active);
  if (resourceType === 'Groups' && 'members' in resource) resource.members = withoutNullSubAttributes(membersOf(resource.members));
  return resource;
}

export type ResourceType = 'Users' | 'Groups';

/** POST and PUT bodies. */
export function normaliseResourceBody(body: unknown, resourceType: ResourceType): unknown {
  return isObject(body) ? normaliseResource({ ...body }, resourceType) : body;
}

function normaliseOperation(operation: unknown, resourceType: ResourceType): unknown {
  if (!isObject(operation)) return operation;
  // RFC 7644 §3.5.2: op is "add", "remove" or "replace"; Entra capitalises them ("Replace").
  const normalised: Json = { ...operation, op: typeof operation.op === 'string' ? operation.op.toLowerCase() : operation.op };
  const path = typeof operation.path === 'string' ? operation.path.trim() : undefined;
  const { value } = operation;
  if (path !== undefined && path.toLowerCase() === 'active') normalised.value = booleanOf(value);
  else if (path === undefined && isObject(value)) normalised.value = normaliseResource({ ...value }, resourceType);
  else if (resourceType === 'Groups' && path?.toLowerCase() === 'members') normalised.value = withoutNullSubAttributes(membersOf(value));
  else if (resourceType === 'Groups') normalised.value = withoutNullSubAttributes(value);
  if (!('value' in operation)) delete normalised.value;
  return normalised;
}

/** PATCH bodies (RFC 7644 §3.5.2). */
export function normalisePatchBody(body: unknown, resourceType: ResourceType): unknown {
  if (!isObject(body) || !Array.isArray(body.Operations)) return body;
  return { ...body, Operations: body.Operations.map((operation) => normaliseOperation(operation, resourceType)) };
}
