// GET /<Resources> and POST /<Resources>/.search (RFC 7644 §3.4.2, §3.4.3), answered from SQL.
// scimmy-routers would re-parse the filter with scimmy's parser (which mis-reads `not (...)`
// and nested groups), then sort and slice the page again in memory; jml answers lists itself.
import type { Request } from 'express';
import SCIMMY from 'scimmy';
import type { Database } from '../db/client.js';
import { isPlainObject } from './canonical-user.js';
import { scimError } from './errors.js';

const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

export interface ListQuery {
  filter?: string;
  sortBy?: string;
  sortOrder?: string;
  startIndex?: number;
  count?: number;
}

type ResourceClass = typeof SCIMMY.Resources.User | typeof SCIMMY.Resources.Group;
type SchemaClass = typeof SCIMMY.Schemas.User | typeof SCIMMY.Schemas.Group;

export interface ListEndpoint {
  Resource: ResourceClass;
  Schema: SchemaClass;
  list(db: Database, query: ListQuery): Promise<{ ids: string[]; totalResults: number }>;
  /** The SCIM representations of these ids (any order). */
  load(db: Database, ids: string[]): Promise<{ id: string }[]>;
}

function integer(name: string, value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const number = typeof value === 'number' ? value : Number(value);
  // RFC 7644 §3.4.2.4: startIndex and count are integers; one past 2^53 cannot be exact, and one
  // past PostgreSQL's bigint would fail the query.
  if (!Number.isSafeInteger(number)) throw scimError(400, 'invalidValue', `${name} must be an integer between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`);
  return number;
}

function text(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw scimError(400, 'invalidValue', `${name} must be a string`);
  return value;
}

function attributeList(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',');
  return text(name, value);
}

/** Reads list parameters from a query string (GET) or a SearchRequest body (POST .search). */
export function listParameters(req: Request): ListQuery & { attributes?: string; excludedAttributes?: string } {
  let source: Record<string, unknown>;
  if (req.method === 'POST') {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!Array.isArray(body.schemas) || !body.schemas.includes(SEARCH_REQUEST)) {
      throw scimError(400, 'invalidSyntax', `A search request body must have schemas ["${SEARCH_REQUEST}"]`);
    }
    source = body;
  } else {
    source = req.query;
  }
  return {
    filter: text('filter', source.filter),
    sortBy: text('sortBy', source.sortBy),
    sortOrder: text('sortOrder', source.sortOrder),
    startIndex: integer('startIndex', source.startIndex),
    count: integer('count', source.count),
    attributes: attributeList('attributes', source.attributes),
    excludedAttributes: attributeList('excludedAttributes', source.excludedAttributes),
  };
}

/**
 * RFC 7643 §3 and RFC 7644 §3.4.2.5: every resource carries `schemas` (returned "always", like
 * `id`), whatever `attributes` names; RFC 7644 §3.9 only narrows the other attributes. scimmy's
 * projection leaves `schemas` out, so it is put back: the core schema and each extension the
 * projection kept. A representation that has `schemas` is returned as it is.
 */
export function withSchemas(resource: unknown, Schema: unknown): unknown {
  // A plain answer built by jml (canonical-user.ts's userOut) already has `schemas` and serialises
  // as it is: no copy to make.
  if (isPlainObject(resource) && Array.isArray(resource.schemas) && resource.schemas.length > 0) return resource;
  const shown = JSON.parse(JSON.stringify(resource)) as unknown;
  if (shown === null || typeof shown !== 'object' || Array.isArray(shown)) return resource;
  const body = shown as Record<string, unknown>;
  // The plain copy, not the scimmy instance: the same JSON, which the response then serialises
  // without going through every attribute's getter again.
  if (Array.isArray(body.schemas) && body.schemas.length > 0) return body;
  const core = (Schema as { definition: { id: string } }).definition.id;
  return { schemas: [core, ...Object.keys(body).filter((key) => key.startsWith('urn:'))], ...body };
}

export async function listResources(db: Database, endpoint: ListEndpoint, req: Request, basepath: string) {
  const { attributes, excludedAttributes, ...query } = listParameters(req);
  // scimmy's Resource turns attributes/excludedAttributes into the projection its schemas apply.
  const Shaping = endpoint.Resource as unknown as new (config: Record<string, string>) => { attributes?: unknown };
  const shaping = new Shaping({
    ...(attributes !== undefined ? { attributes } : {}),
    ...(excludedAttributes !== undefined ? { excludedAttributes } : {}),
  });
  const { ids, totalResults } = await endpoint.list(db, query);
  const rows = await endpoint.load(db, ids);
  const byId = new Map(rows.map((row) => [row.id, row]));
  const projected = attributes !== undefined || excludedAttributes !== undefined;
  const resources = ids.flatMap((id) => {
    const row = byId.get(id);
    if (!row) return [];
    const resource = new endpoint.Schema(row, 'out', basepath, shaping.attributes as never);
    return [projected ? withSchemas(resource, endpoint.Schema) : resource];
  });
  return {
    schemas: [LIST_RESPONSE],
    totalResults,
    itemsPerPage: resources.length,
    startIndex: Math.max(query.startIndex ?? 1, 1),
    Resources: resources,
  };
}
