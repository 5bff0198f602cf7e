// RFC 7643 §2.4: in a multi-valued attribute, "the primary attribute value 'true' MUST appear no
// more than once". A PATCH that makes a value primary unsets the others (RFC 7644 §3.5.2: "the
// server SHALL automatically set 'primary' to 'false' for any other values in the array"); a
// create or replace that names two primaries is refused with 400 invalidValue, because nothing
// says which one the client meant, and the primary email becomes the identity's email column,
// which connectors look accounts up by: guessing could act on the wrong person's account
// (docs/decisions/052-conformance-choices.md).
import { canonicalJson } from '../audit/canonical.js';
import { scimError } from './errors.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const isPrimary = (value: unknown) => isObject(value) && value.primary === true;

/** Each multi-valued attribute with its values, in the core schema and in each extension (one level down). */
function multiValued(resource: Json): { name: string; owner: Json; key: string }[] {
  const found: { name: string; owner: Json; key: string }[] = [];
  for (const [key, value] of Object.entries(resource)) {
    if (Array.isArray(value)) found.push({ name: key, owner: resource, key });
    else if (key.toLowerCase().startsWith('urn:') && isObject(value)) {
      for (const [inner, innerValue] of Object.entries(value)) if (Array.isArray(innerValue)) found.push({ name: `${key}:${inner}`, owner: value, key: inner });
    }
  }
  return found;
}

/** The multi-valued attributes that hold more than one primary value. */
function withSeveralPrimaries(resource: Json): string[] {
  return multiValued(resource).filter(({ owner, key }) => (owner[key] as unknown[]).filter(isPrimary).length > 1).map(({ name }) => name);
}

/** 400 invalidValue naming every multi-valued attribute that holds more than one primary value. */
export function refuseSeveralPrimaries(resource: Json): void {
  const several = withSeveralPrimaries(resource);
  if (several.length > 0) {
    throw scimError(400, 'invalidValue', `At most one value of ${several.join(', ')} may have "primary": true (RFC 7643 §2.4); mark one`);
  }
}

/**
 * After a PATCH: where an attribute now holds more than one primary value, the values that were
 * already primary before the PATCH lose it, so the one the PATCH made primary wins (RFC 7644
 * §3.5.2). Returns a copy when it unset any (else `patched` itself); a PATCH that itself names two
 * primaries is still refused afterwards.
 */
export function unsetReplacedPrimaries(patched: Json, before: Json): Json {
  // Nearly every PATCH leaves at most one primary per attribute: nothing to unset, nothing to copy.
  if (withSeveralPrimaries(patched).length === 0) return patched;
  const result = JSON.parse(JSON.stringify(patched)) as Json;
  const previous = new Map(multiValued(before).map(({ name, owner, key }) => [name, owner[key] as unknown[]]));
  for (const { name, owner, key } of multiValued(result)) {
    const values = owner[key] as unknown[];
    if (values.filter(isPrimary).length <= 1) continue;
    const wasPrimary = new Set((previous.get(name) ?? []).filter(isPrimary).map((value) => canonicalJson(value)));
    owner[key] = values.map((value) => (isPrimary(value) && wasPrimary.has(canonicalJson(value)) ? { ...(value as Json), primary: false } : value));
  }
  return result;
}
