// POST /Bulk (RFC 7644 §3.7): many writes in one request, each committed on its own exactly as the
// same request sent alone would be (the same code: resource-routes.ts's resourceWrites), so every
// operation answered 2xx has its lifecycle event, outbox row and audit rows. The request's size is
// checked before its body is read and its operation count before anything runs (§3.7.4).
// Shaped to take Microsoft's API-driven inbound provisioning payloads too: HR systems post every
// worker as a POST to /Users, matched on externalId (see upsertTarget).
import type { Request, Response } from 'express';
import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyOf, startIdempotentBulk, type BulkJournal, type RecordedOperation } from './bulk-idempotency.js';
import { normalisePatchBody, normaliseResourceBody, type ResourceType } from './dialect/index.js';
import { errorBody, scimError, toScimError } from './errors.js';
import type { OperationResult, ResourceWrites, WriteRequest } from './resource-routes.js';
import type { ScimRequestContext } from './users.js';
import type { Database } from '../db/client.js';

export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

export interface BulkLimits {
  maxOperations: number;
  maxPayloadSize: number;
}

interface BulkOperation {
  method: string;
  bulkId?: string;
  version?: string;
  path: string;
  data?: unknown;
}

interface BulkResult {
  method: string;
  bulkId?: string;
  location?: string;
  version?: string;
  status: string;
  response?: unknown;
}

type Json = Record<string, unknown>;

const REFERENCE = /"bulkId:([^"]+)"/g;

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The bulkIds an operation refers to, in its path or data (§3.7.2: "bulkId:<id>"). */
function referencesOf(operation: BulkOperation): string[] {
  const text = JSON.stringify(operation.data ?? null);
  const fromPath = /bulkId:([^/]+)/.exec(operation.path)?.[1];
  return [...new Set([...(fromPath ? [fromPath] : []), ...[...text.matchAll(REFERENCE)].map((match) => match[1]!)])];
}

function resolve(operation: BulkOperation, ids: Map<string, string>): BulkOperation {
  const replace = (text: string) => text.replace(/bulkId:([^"/]+)/g, (whole, id: string) => ids.get(id) ?? whole);
  return {
    ...operation,
    path: replace(operation.path),
    ...(operation.data === undefined ? {} : { data: JSON.parse(replace(JSON.stringify(operation.data))) as unknown }),
  };
}

/** Validates the envelope (§3.7): what is wrong with it is the whole request's 400. */
function parseBulkRequest(body: unknown, limits: BulkLimits): { operations: BulkOperation[]; failOnErrors?: number } {
  if (!isObject(body)) throw scimError(400, 'invalidSyntax', 'A Bulk request is a JSON object');
  const schemas = Array.isArray(body.schemas) ? body.schemas : [];
  if (!schemas.includes(BULK_REQUEST)) throw scimError(400, 'invalidSyntax', `A Bulk request's schemas must include ${BULK_REQUEST}`);
  const operations = body.Operations;
  if (!Array.isArray(operations) || operations.length === 0) throw scimError(400, 'invalidSyntax', 'A Bulk request needs a non-empty Operations array');
  // §3.7.4: more operations than maxOperations is 413, before any of them runs.
  if (operations.length > limits.maxOperations) {
    throw scimError(413, undefined, `The Bulk request has ${operations.length} operations; the maximum is ${limits.maxOperations} (see /ServiceProviderConfig)`);
  }
  const { failOnErrors } = body;
  if (failOnErrors !== undefined && (typeof failOnErrors !== 'number' || !Number.isInteger(failOnErrors) || failOnErrors < 1)) {
    throw scimError(400, 'invalidValue', 'failOnErrors must be a positive integer');
  }
  return { operations: operations as BulkOperation[], ...(failOnErrors === undefined ? {} : { failOnErrors }) };
}

/** What is wrong with one operation's shape, as that operation's error (scimmy's wording of §3.7). */
function shapeError(operation: unknown, bulkIds: Set<string>): Error | null {
  if (!isObject(operation)) return scimError(400, 'invalidSyntax', 'Each operation is a JSON object');
  const { method, path, bulkId, data } = operation;
  if (typeof method !== 'string' || !['POST', 'PUT', 'PATCH', 'DELETE'].includes(method.toUpperCase())) {
    return scimError(400, 'invalidValue', 'method must be POST, PUT, PATCH or DELETE');
  }
  if (typeof path !== 'string' || !/^\/(Users|Groups)(\/[^/]+)?$/i.test(path)) return scimError(400, 'invalidValue', 'path must be /Users, /Groups, or one resource under them');
  const targetsOne = path.split('/').length === 3;
  if (method.toUpperCase() === 'POST') {
    if (typeof bulkId !== 'string' || bulkId === '') return scimError(400, 'invalidSyntax', 'A POST operation needs a bulkId (RFC 7644 §3.7)');
    if (targetsOne) return scimError(404, undefined, 'A POST operation targets a resource type, such as /Users');
  } else if (!targetsOne) return scimError(404, undefined, `A ${method.toUpperCase()} operation targets one resource, such as /Users/{id}`);
  if (method.toUpperCase() !== 'DELETE' && !isObject(data)) return scimError(400, 'invalidSyntax', 'data must be a JSON object');
  const missing = referencesOf(operation as unknown as BulkOperation).find((id) => !bulkIds.has(id));
  if (missing) return scimError(400, 'invalidValue', `No POST operation in this request has bulkId "${missing}"`);
  return null;
}

export interface BulkHandlerOptions {
  db: Database;
  limits: BulkLimits;
  writes: Record<ResourceType, ResourceWrites>;
  contextOf(req: Request): ScimRequestContext;
  baseOf(req: Request): string;
}

/**
 * Microsoft's API-driven inbound provisioning posts every worker, new or known, as a POST to
 * /Users and matches on externalId. A Bulk POST whose externalId is a live person's replaces that
 * person, as Microsoft's service would; without a match it creates, as any POST does.
 */
async function upsertTarget(db: Database, data: unknown): Promise<string | undefined> {
  const externalId = isObject(data) && typeof data.externalId === 'string' && data.externalId !== '' ? data.externalId : undefined;
  if (!externalId) return undefined;
  const found = await db.identity.findFirst({ where: { externalId, deletedAt: null }, select: { id: true } });
  return found?.id;
}

export function createBulkHandler(options: BulkHandlerOptions) {
  return async (req: Request, res: Response): Promise<void> => {
    const { operations, failOnErrors } = parseBulkRequest(req.body, options.limits);
    const context = options.contextOf(req);
    const base = options.baseOf(req);
    const send = (body: unknown) => res.status(200).type('application/scim+json').send(JSON.stringify(body));
    // With an Idempotency-Key the request is journalled (src/scim/bulk-idempotency.ts): a resend
    // is answered from the journal, and only operations with no recorded result run.
    const key = idempotencyKeyOf(req.get(IDEMPOTENCY_KEY_HEADER));
    let journal: BulkJournal | undefined;
    if (key !== undefined) {
      const start = await startIdempotentBulk(options.db, context.principal.name, key, req.body);
      if (start.kind === 'replay') {
        send(start.response);
        return;
      }
      journal = start.journal;
    }
    try {
      await runOperations(operations, failOnErrors, context, base, journal, send);
    } finally {
      await journal?.release();
    }
  };

  async function runOperations(
    operations: BulkOperation[],
    failOnErrors: number | undefined,
    context: ScimRequestContext,
    base: string,
    journal: BulkJournal | undefined,
    send: (body: unknown) => void,
  ): Promise<void> {
    const postIds = new Set(operations.flatMap((operation) => (isObject(operation) && typeof operation.bulkId === 'string' && String(operation.method).toUpperCase() === 'POST' ? [operation.bulkId] : [])));
    const created = new Map<string, string>();
    const failed = new Set<string>();
    const results = new Map<number, BulkResult>();
    const running = new Set<number>();
    let errors = 0;
    const byBulkId = new Map(operations.map((operation, index) => [isObject(operation) && String(operation.method).toUpperCase() === 'POST' ? String(operation.bulkId) : undefined, index]));
    // What an earlier run of the same request did: answered as it was, never run again.
    for (const [index, recorded] of journal?.recorded ?? []) {
      results.set(index, recorded.result as unknown as BulkResult);
      if (recorded.bulkId && recorded.createdId) created.set(recorded.bulkId, recorded.createdId);
      if (!/^2/.test(recorded.result.status)) {
        errors += 1;
        if (recorded.bulkId) failed.add(recorded.bulkId);
      }
    }

    async function execute(operation: BulkOperation): Promise<OperationResult & { location?: string }> {
      const [, collection, id] = operation.path.split('/') as [string, string, string | undefined];
      const resourceType: ResourceType = collection.toLowerCase() === 'groups' ? 'Groups' : 'Users';
      const writes = options.writes[resourceType];
      const method = operation.method.toUpperCase();
      // Each operation gets its own preconditions, as its own request would (§3.7: version is If-Match).
      const request: WriteRequest = { context: { ...context, preconditions: operation.version ? { ifMatch: operation.version } : {} }, base, ...(id ? { id } : {}) };
      if (method === 'DELETE') return writes.remove(request);
      if (method === 'PATCH') return writes.patch({ ...request, body: normalisePatchBody(operation.data, resourceType) });
      const body = normaliseResourceBody(operation.data, resourceType);
      if (method === 'PUT') return writes.replace({ ...request, body });
      const existing = resourceType === 'Users' ? await upsertTarget(options.db, body) : undefined;
      return existing ? writes.replace({ ...request, id: existing, body }) : writes.create({ ...request, body });
    }

    async function run(index: number): Promise<void> {
      if (results.has(index) || running.has(index)) return;
      if (failOnErrors !== undefined && errors >= failOnErrors) return;
      running.add(index);
      const raw = operations[index] as unknown;
      const method = isObject(raw) && typeof raw.method === 'string' ? raw.method.toUpperCase() : String(isObject(raw) ? raw.method : '');
      const bulkId = isObject(raw) && typeof raw.bulkId === 'string' && method === 'POST' ? raw.bulkId : undefined;
      const result: BulkResult = { method, ...(bulkId ? { bulkId } : {}), status: '' };
      try {
        const invalid = shapeError(raw, postIds);
        if (invalid) throw invalid;
        const operation = raw as BulkOperation;
        // A reference to a POST later in the request runs that POST first (§3.7.2 lets clients
        // order operations freely); a reference back to an operation still running is a cycle.
        for (const reference of referencesOf(operation)) {
          const target = byBulkId.get(reference);
          if (target !== undefined && running.has(target) && !results.has(target)) {
            throw scimError(409, undefined, `bulkId "${reference}" and this operation refer to each other; send them as a POST and a later PATCH`);
          }
          if (target !== undefined) await run(target);
          if (failed.has(reference) || !created.has(reference)) {
            throw scimError(412, undefined, `The POST operation with bulkId "${reference}" did not succeed`);
          }
        }
        const outcome = await execute(resolve(operation, created));
        const location = (outcome.body as { meta?: { location?: unknown } } | undefined)?.meta?.location;
        const createdId = (outcome.body as { id?: unknown } | undefined)?.id;
        if (bulkId && typeof createdId === 'string') created.set(bulkId, createdId);
        Object.assign(result, {
          status: String(outcome.status),
          ...(typeof location === 'string' ? { location } : !operation.path.includes('bulkId:') && operation.path.split('/').length === 3 ? { location: `${base}${resolve(operation, created).path}` } : {}),
          ...(outcome.version ? { version: outcome.version } : {}),
        });
      } catch (error) {
        const scim = toScimError(error);
        errors += 1;
        if (bulkId) failed.add(bulkId);
        Object.assign(result, { status: String(scim.status), response: errorBody(scim.status, scim.message, scim.scimType || undefined) });
      }
      running.delete(index);
      results.set(index, result);
      await journal?.record(index, { result: result as unknown as RecordedOperation['result'], ...(bulkId ? { bulkId } : {}), ...(bulkId && created.has(bulkId) ? { createdId: created.get(bulkId)! } : {}) });
    }

    for (let index = 0; index < operations.length; index++) {
      if (failOnErrors !== undefined && errors >= failOnErrors) break;
      await run(index);
    }
    // Operations in request order; those never run because failOnErrors was reached are omitted (§3.7.3).
    const Operations = [...results.entries()].sort(([a], [b]) => a - b).map(([, result]) => result);
    const response = { schemas: [BULK_RESPONSE], Operations };
    // An operation that failed for want of the database (5xx) was not done: the answer is not
    // kept, so a resend runs that operation again and answers the rest from the journal.
    if (journal && !Operations.some((result) => Number(result.status) >= 500)) await journal.finish(response);
    send(response);
  }
}
