// Identity providers speak SCIM with accents. These rewrites turn what Okta and Microsoft Entra ID
// actually send into what RFC 7644 says, before scimmy validates the request.

type Json = Record<string, unknown>;

const BOOLEAN_STRINGS: Record<string, boolean> = { true: true, false: false };

/** Entra sends booleans as strings ("False"); RFC 7643 §2.3.2 says boolean. */
function booleanOf(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const parsed = BOOLEAN_STRINGS[value.toLowerCase()];
  return parsed === undefined ? value : parsed;
}

function normaliseActive(body: Json): Json {
  return 'active' in body ? { ...body, active: booleanOf(body.active) } : body;
}

/** POST and PUT bodies. */
export function normaliseResourceBody(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  return normaliseActive(body as Json);
}

/** PATCH bodies: Entra capitalises ops ("Replace") and sends active as a string. */
export function normalisePatchBody(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const message = body as Json;
  if (!Array.isArray(message.Operations)) return body;
  return {
    ...message,
    Operations: message.Operations.map((operation: unknown) => {
      if (!operation || typeof operation !== 'object') return operation;
      const op = operation as Json;
      const normalised: Json = { ...op, op: typeof op.op === 'string' ? op.op.toLowerCase() : op.op };
      if (typeof op.path === 'string' && op.path.toLowerCase() === 'active') normalised.value = booleanOf(op.value);
      else if (op.value && typeof op.value === 'object' && !Array.isArray(op.value)) normalised.value = normaliseActive(op.value as Json);
      return normalised;
    }),
  };
}
