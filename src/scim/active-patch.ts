// A PATCH that only sets `active`: what identity providers send for a leaver or a re-activation,
// recognised so that jml can apply it without scimmy's PatchOp and its User constructions
// (docs/decisions/060-scim-writes-without-coercion.md). It looks at the body after
// src/scim/dialect has rewritten the client's spelling (Entra's "Replace" and "False"), which stays
// the one place that knows dialects; what it does not recognise goes to scimmy's PatchOp.
import SCIMMY from 'scimmy';
import { isPlainObject } from './canonical-user.js';

/**
 * The value one operation sets `active` to, in RFC 7644 §3.5.2.3's two spellings of `replace`:
 * `{op: "replace", path: "active", value: b}` and `{op: "replace", value: {active: b}}`. Spelled
 * exactly so: scimmy's PatchOp answers a path `Active` with 400 invalidPath, and that stays its answer.
 */
function activeOf(operation: unknown): boolean | undefined {
  if (!isPlainObject(operation) || operation.op !== 'replace') return undefined;
  const { path, value } = operation;
  if (Object.keys(operation).some((key) => key !== 'op' && key !== 'path' && key !== 'value')) return undefined;
  if (path !== undefined) return path === 'active' && typeof value === 'boolean' ? value : undefined;
  if (!isPlainObject(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === 'active' && typeof value.active === 'boolean' ? value.active : undefined;
}

/**
 * The `active` a PatchOp body leaves, when every operation only sets `active` (the last one
 * wins, as scimmy applies them in order); undefined for any other body, valid or not, which
 * scimmy's PatchOp then applies or refuses with its own error.
 */
export function activeSetByPatch(body: unknown): boolean | undefined {
  if (!isPlainObject(body)) return undefined;
  const { schemas, Operations: operations } = body;
  // scimmy's PatchOp: the schemas must be exactly the PatchOp message's (RFC 7644 §3.5.2).
  if (!Array.isArray(schemas) || schemas.length !== 1 || schemas[0] !== SCIMMY.Messages.PatchOp.id) return undefined;
  if (!Array.isArray(operations) || operations.length === 0) return undefined;
  let active: boolean | undefined;
  for (const operation of operations) {
    active = activeOf(operation);
    if (active === undefined) return undefined;
  }
  return active;
}
