// The routes of one SCIM resource type (RFC 7644 §3.2): list and search from SQL, then read,
// create, replace, patch and delete through scimmy's Resource classes. jml serves these itself
// rather than through scimmy-routers so that every error leaves as jml chose it: scimmy's error
// message class refuses 503, and scimmy-routers' list would re-sort and re-slice the page.
import type { Request, RequestHandler, Response, Router } from 'express';
import SCIMMY from 'scimmy';
import type { Database } from '../db/client.js';
import { scimError } from './errors.js';
import { refuseGroupMembers } from './group-mapping.js';
import { listResources, withSchemas, type ListEndpoint } from './list-handler.js';
import { behaviourOf, rewritePatchOperations, type PatchOperation, type ProfileBehaviour } from './dialect/index.js';
import { activeSetByPatch } from './active-patch.js';
import { isCanonicalUser, isPlainObject, userOut } from './canonical-user.js';
import { ConcurrentModification, patchActiveAtOnce, writeCanonicalUser, type ScimRequestContext } from './users.js';

/** A PATCH that keeps meeting concurrent writes gives up after this many attempts. */
const PATCH_ATTEMPTS = 5;

export interface ResourceEndpoint extends ListEndpoint {
  /** The endpoint below the SCIM base URL. */
  path: '/Users' | '/Groups';
}

export interface ResourceRouteOptions {
  db: Database;
  contextOf(req: Request): ScimRequestContext;
  /** The SCIM base URL as the client sees it. */
  baseOf(req: Request): string;
  /** Wraps a handler so that any error leaves as a SCIM error body. */
  handle(handler: (req: Request, res: Response) => Promise<void>): RequestHandler;
}

interface ScimResourceInstance {
  read(context: unknown): Promise<unknown>;
  write(instance: unknown, context: unknown): Promise<unknown>;
  dispose(context: unknown): Promise<void>;
}

type ResourceConstructor = new (...args: unknown[]) => ScimResourceInstance;

function sendResource(res: Response, status: number, body: unknown) {
  res.status(status).type('application/scim+json').send(body);
}

/** What one SCIM operation answers: a status, and the resource or nothing. */
export interface OperationResult {
  status: number;
  body?: unknown;
  /** The resource's version, for ETag (a 204 carries it too). */
  version?: string;
}

/** One write as a client could send it alone or inside a Bulk request (RFC 7644 §3.7). */
export interface WriteRequest {
  context: ScimRequestContext;
  /** The SCIM base URL as the client sees it. */
  base: string;
  id?: string;
  body?: unknown;
  query?: Record<string, unknown>;
}

function versionOf(body: unknown): string | undefined {
  const version = (body as { meta?: { version?: unknown } } | undefined)?.meta?.version;
  return typeof version === 'string' ? version : undefined;
}

/**
 * scimmy's own test of whether a PATCH changed anything (`hasChanges` in scimmy's messages.js,
 * which it does not export), as PatchOp.apply runs it on the resource before and after with
 * `meta` left out: a deep comparison of the attribute values, Dates by their time.
 */
function hasChanges(original: unknown, current: unknown): boolean {
  if (original === current) return false;
  if (Array.isArray(original)) {
    const list = (current ?? []) as unknown[];
    return original.length !== list.length || original.some((value, index) => hasChanges(value, list[index]));
  }
  if (original !== null && current !== null && typeof original === 'object' && typeof current === 'object') {
    if (original instanceof Date) return original.valueOf() !== (current as Date).valueOf();
    const keys = Object.keys(original);
    if (keys.length !== Object.keys(current).length) return true;
    return keys.some((key) => !(key in current) || hasChanges((original as Record<string, unknown>)[key], (current as Record<string, unknown>)[key]));
  }
  // Both NaN counts as unchanged, as in scimmy.
  return original === original && current === current;
}

/** Whether the resource written differs from the one read, as RFC 7644 §3.5.2's 200-or-204 choice needs it. */
function changedFrom(read: unknown, written: unknown): boolean {
  return hasChanges({ ...(read as object), meta: undefined }, { ...(written as object), meta: undefined });
}

/**
 * Create, replace, patch and delete of one resource type: the one implementation behind both the
 * single-request routes and each operation of a Bulk request, so both behave exactly alike.
 */
export function resourceWrites(endpoint: ResourceEndpoint) {
  const { path, Resource } = endpoint;
  const instance = (request: WriteRequest) => {
    Resource.basepath(request.base);
    const Constructor = Resource as unknown as ResourceConstructor;
    const query = request.query ?? {};
    return request.id !== undefined ? new Constructor(request.id, query) : new Constructor(query);
  };

  // jml's groups hold users only: a group given as a member is refused with a reason.
  const refuseUnsupported = (request: WriteRequest) => {
    if (path === '/Groups') refuseGroupMembers(request.body);
  };

  // The base scimmy puts in meta.location (`<base>/Users`), as instance() sets it.
  const basepathOf = (request: WriteRequest) => {
    Resource.basepath(request.base);
    return (Resource as unknown as { basepath(): string }).basepath();
  };

  // A User write whose representation is canonical (canonical-user.ts) needs none of scimmy's
  // User constructions: its coercion would give back what it was given (decision 060). Any
  // query parameter (an `attributes` projection) leaves the write to scimmy.
  const canonicalUserBody = (request: WriteRequest): request is WriteRequest & { body: Record<string, unknown> } =>
    path === '/Users' && Object.keys(request.query ?? {}).length === 0 && isPlainObject(request.body) && isCanonicalUser(request.body);

  const write = async (request: WriteRequest, id: string | undefined) =>
    canonicalUserBody(request)
      ? userOut(await writeCanonicalUser(request.context, id, request.body), basepathOf(request))
      : instance({ ...request, id }).write(request.body, request.context);

  async function create(request: WriteRequest): Promise<OperationResult> {
    refuseUnsupported(request);
    const body = await write(request, undefined);
    return { status: 201, body, version: versionOf(body) };
  }

  async function replace(request: WriteRequest): Promise<OperationResult> {
    refuseUnsupported(request);
    const body = await write(request, request.id);
    return { status: 200, body, version: versionOf(body) };
  }

  async function remove(request: WriteRequest): Promise<OperationResult> {
    await instance(request).dispose(request.context);
    return { status: 204 };
  }

  // RFC 7644 §3.5.2: read, apply the operations, write. The write checks under the row lock that
  // nothing changed since the read; if something did, the PATCH is applied again to the new state.
  async function patch(request: WriteRequest): Promise<OperationResult> {
    const { context } = request;
    const body = request.body as { Operations?: unknown } | undefined;
    if (!body || !Array.isArray(body.Operations)) throw scimError(400, 'invalidSyntax', 'A PATCH body needs an Operations array');
    refuseUnsupported(request);
    const behaviour = behaviourOf(context.principal.profile);
    // A leaver's or re-activation's PATCH on a canonical User skips scimmy's four User
    // constructions (decision 060); any other PATCH, or a User that is not canonical, takes PatchOp.
    const active = path === '/Users' && Object.keys(request.query ?? {}).length === 0 ? activeSetByPatch(body) : undefined;
    for (let attempt = 1; ; attempt++) {
      context.preconditions.readVersion = undefined;
      context.preconditions.read = undefined;
      try {
        return (active !== undefined ? await patchActive(request, active, behaviour) : undefined) ?? (await patchThroughScimmy(request, body.Operations as PatchOperation[], behaviour));
      } catch (error) {
        if (!(error instanceof ConcurrentModification) || attempt >= PATCH_ATTEMPTS) throw error;
      }
    }
  }

  /** RFC 7644 §3.5.2: 200 with the resource, or 204; the client's profile says which it expects. */
  function patchAnswer(read: unknown, written: unknown, behaviour: ProfileBehaviour): OperationResult {
    const patched = changedFrom(read, written) ? written : undefined;
    if (patched && behaviour.patchAnswer[path === '/Users' ? 'Users' : 'Groups'] === 'resource') return { status: 200, body: patched, version: versionOf(patched) };
    return { status: 204, version: versionOf(patched) };
  }

  /** `active` set on a canonical User, answered as scimmy would answer it; undefined when the User is not canonical. */
  async function patchActive(request: WriteRequest, active: boolean, behaviour: ProfileBehaviour): Promise<OperationResult | undefined> {
    const patched = await patchActiveAtOnce(request.context, request.id!, active);
    if (!patched) return undefined;
    const basepath = basepathOf(request);
    return patchAnswer(userOut(patched.read, basepath), userOut(patched.written, basepath), behaviour);
  }

  async function patchThroughScimmy(request: WriteRequest, sent: PatchOperation[], behaviour: ProfileBehaviour): Promise<OperationResult> {
    const { context } = request;
    const resource = instance(request);
    const read = await resource.read(context);
    const current = JSON.parse(JSON.stringify(read)) as { meta?: { version?: string } };
    context.preconditions.readVersion = Number(/(\d+)/.exec(current.meta?.version ?? '')?.[1]);
    const operations = rewritePatchOperations(sent, current, behaviour);
    // scimmy's PatchOp validates the message (schemas, each op's name and shape) itself.
    const message = { ...(request.body as object), Operations: operations } as unknown as ConstructorParameters<typeof SCIMMY.Messages.PatchOp>[0];
    // PatchOp.apply(read, finalise) would coerce the written resource into a User once more
    // (scimmy's fifth per PATCH, ~0.5 ms of CPU: 6 % of the API's busy time in a PATCH burst) only to
    // compare it with the read; the write's own answer is that User already. So the operations
    // are applied alone, the result written as finalise would have written it (the read when
    // they changed nothing), and the written resource compared with the read as apply does.
    const applied = (await new SCIMMY.Messages.PatchOp(message).apply(read as never)) as unknown;
    const written = await resource.write(applied ?? read, context);
    return patchAnswer(read, written, behaviour);
  }

  return { create, replace, patch, remove };
}

export type ResourceWrites = ReturnType<typeof resourceWrites>;

export function mountResource(router: Router, endpoint: ResourceEndpoint, options: ResourceRouteOptions): void {
  const { path, Resource } = endpoint;
  const { handle, contextOf, baseOf } = options;
  const writes = resourceWrites(endpoint);
  const request = (req: Request, withId: boolean): WriteRequest => ({
    context: contextOf(req),
    base: baseOf(req),
    ...(withId ? { id: String(req.params.id) } : {}),
    body: req.body as unknown,
    query: req.query,
  });
  const answer = (res: Response, result: OperationResult) => {
    // A write may carry `attributes` too (RFC 7644 §3.9): the resource it returns keeps `schemas`.
    if (result.body !== undefined) return sendResource(res, result.status, withSchemas(result.body, endpoint.Schema));
    if (result.version) res.set('ETag', result.version);
    res.status(result.status).end();
  };
  const list = handle(async (req, res) => {
    sendResource(res, 200, await listResources(options.db, endpoint, req, `${baseOf(req)}${path}`));
  });

  router.get(path, list);
  router.post(`${path}/.search`, list);
  router.get(
    `${path}/:id`,
    handle(async (req, res) => {
      Resource.basepath(baseOf(req));
      const Constructor = Resource as unknown as ResourceConstructor;
      sendResource(res, 200, withSchemas(await new Constructor(String(req.params.id), req.query).read(contextOf(req)), endpoint.Schema));
    }),
  );
  router.post(path, handle(async (req, res) => answer(res, await writes.create(request(req, false)))));
  router.put(`${path}/:id`, handle(async (req, res) => answer(res, await writes.replace(request(req, true)))));
  router.delete(`${path}/:id`, handle(async (req, res) => answer(res, await writes.remove(request(req, true)))));
  router.patch(`${path}/:id`, handle(async (req, res) => answer(res, await writes.patch(request(req, true)))));
}
