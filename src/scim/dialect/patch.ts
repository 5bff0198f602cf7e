// Rewrites PATCH operations that identity providers send but scimmy's PatchOp refuses, once the
// current resource is known.
import { ENTERPRISE_USER_URN } from '../user-mapping.js';
import type { ProfileBehaviour } from './profiles.js';

type Json = Record<string, unknown>;
export interface PatchOperation {
  op: string;
  path?: string;
  value?: unknown;
}

const MANAGER_PATH = `${ENTERPRISE_USER_URN}:manager`.toLowerCase();

// `emails[type eq "work"].value`: a value path selecting by one sub-attribute, then a sub-attribute.
const SIMPLE_VALUE_PATH = /^([A-Za-z][\w$-]*)\[\s*([A-Za-z][\w$-]*)\s+eq\s+"([^"]*)"\s*\]\.([A-Za-z][\w$-]*)$/i;

function caseInsensitive(object: Json, key: string): unknown {
  const found = Object.keys(object).find((candidate) => candidate.toLowerCase() === key.toLowerCase());
  return found === undefined ? undefined : object[found];
}

/** Entra sends the manager as a bare id; RFC 7643 §4.3 says a complex value with `value`. */
function wrapManager(operation: PatchOperation): PatchOperation {
  if (operation.path?.toLowerCase() === MANAGER_PATH && typeof operation.value === 'string') {
    return { ...operation, value: { value: operation.value } };
  }
  if (!operation.path && operation.value && typeof operation.value === 'object' && !Array.isArray(operation.value)) {
    const value = { ...(operation.value as Json) };
    for (const key of Object.keys(value)) {
      if (key.toLowerCase() === MANAGER_PATH && typeof value[key] === 'string') value[key] = { value: value[key] };
    }
    const extension = caseInsensitive(value, ENTERPRISE_USER_URN) as Json | undefined;
    if (extension && typeof extension.manager === 'string') extension.manager = { value: extension.manager };
    return { ...operation, value };
  }
  return operation;
}

/**
 * `add`/`replace` of `emails[type eq "work"].value` when the person has no work email yet. RFC
 * 7644 §3.5.2.1 lets `add` create what is missing (scimmy answers noTarget instead); for `replace`
 * §3.5.2.3 says noTarget, and only profiles whose client expects creation get it (profiles.ts).
 */
function createMissingValuePathEntry(operation: PatchOperation, current: Json, behaviour: ProfileBehaviour): PatchOperation {
  if (!operation.path) return operation;
  if (operation.op !== 'add' && !(operation.op === 'replace' && behaviour.replaceCreatesMissingValuePath)) return operation;
  const match = SIMPLE_VALUE_PATH.exec(operation.path);
  if (!match) return operation;
  const [, attribute, key, expected, subAttribute] = match as unknown as [string, string, string, string, string];
  const entries = caseInsensitive(current, attribute);
  const list = Array.isArray(entries) ? (entries as Json[]) : [];
  const exists = list.some((entry) => {
    const value = caseInsensitive(entry, key);
    return typeof value === 'string' && value.toLowerCase() === expected.toLowerCase();
  });
  if (exists) return operation;
  return { op: 'add', path: attribute, value: [{ [key]: expected, [subAttribute]: operation.value }] };
}

export function rewritePatchOperations(operations: PatchOperation[], current: Json, behaviour: ProfileBehaviour): PatchOperation[] {
  return operations.map((operation) => createMissingValuePathEntry(wrapManager(operation), current, behaviour));
}
