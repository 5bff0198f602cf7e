// The routes of one SCIM resource type (RFC 7644 §3.2): list and search from SQL, then read,
// create, replace, patch and delete through scimmy's Resource classes. jml serves these itself
// rather than through scimmy-routers so that every error leaves as jml chose it: scimmy's error
// message class refuses 503, and scimmy-routers' list would re-sort and re-slice the page.
import type { Request, RequestHandler, Response, Router } from 'express';
import SCIMMY from 'scimmy';
import type { Database } from '../db/client.js';
import { scimError } from './errors.js';
import { listResources, type ListEndpoint } from './list-handler.js';
import { behaviourOf, rewritePatchOperations, type PatchOperation } from './dialect/index.js';
import { ConcurrentModification, type ScimRequestContext } from './users.js';

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

export function mountResource(router: Router, endpoint: ResourceEndpoint, options: ResourceRouteOptions): void {
  const { path, Resource } = endpoint;
  const { handle, contextOf, baseOf } = options;
  const instance = (req: Request, withId: boolean) => {
    Resource.basepath(baseOf(req));
    const Constructor = Resource as unknown as ResourceConstructor;
    const query = req.query as Record<string, unknown>;
    return withId ? new Constructor(String(req.params.id), query) : new Constructor(query);
  };
  const list = handle(async (req, res) => {
    sendResource(res, 200, await listResources(options.db, endpoint, req, `${baseOf(req)}${path}`));
  });

  router.get(path, list);
  router.post(`${path}/.search`, list);
  router.get(`${path}/:id`, handle(async (req, res) => sendResource(res, 200, await instance(req, true).read(contextOf(req)))));
  router.post(path, handle(async (req, res) => sendResource(res, 201, await instance(req, false).write(req.body, contextOf(req)))));
  router.put(`${path}/:id`, handle(async (req, res) => sendResource(res, 200, await instance(req, true).write(req.body, contextOf(req)))));
  router.delete(
    `${path}/:id`,
    handle(async (req, res) => {
      await instance(req, true).dispose(contextOf(req));
      res.status(204).end();
    }),
  );

  // RFC 7644 §3.5.2: read, apply the operations, write. The write checks under the row lock that
  // nothing changed since the read; if something did, the PATCH is applied again to the new state.
  router.patch(
    `${path}/:id`,
    handle(async (req, res) => {
      const context = contextOf(req);
      const body = req.body as { Operations?: unknown } | undefined;
      if (!body || !Array.isArray(body.Operations)) throw scimError(400, 'invalidSyntax', 'A PATCH body needs an Operations array');
      for (let attempt = 1; ; attempt++) {
        const resource = instance(req, true);
        context.preconditions.readVersion = undefined;
        const read = await resource.read(context);
        const current = JSON.parse(JSON.stringify(read)) as { meta?: { version?: string } };
        context.preconditions.readVersion = Number(/(\d+)/.exec(current.meta?.version ?? '')?.[1]);
        const behaviour = behaviourOf(context.principal.profile);
        const operations = rewritePatchOperations(body.Operations as PatchOperation[], current, behaviour);
        // scimmy's PatchOp validates the message (schemas, each op's name and shape) itself.
        const message = { ...body, Operations: operations } as unknown as ConstructorParameters<typeof SCIMMY.Messages.PatchOp>[0];
        try {
          const patched = await new SCIMMY.Messages.PatchOp(message).apply(read as never, async (next: unknown) => (await resource.write(next, context)) as Record<string, unknown>);
          // RFC 7644 §3.5.2: 200 with the resource, or 204; the client's profile says which it expects.
          if (patched && behaviour.patchAnswer[path === '/Users' ? 'Users' : 'Groups'] === 'resource') sendResource(res, 200, patched);
          else {
            const version = (patched as { meta?: { version?: unknown } } | undefined)?.meta?.version;
            if (typeof version === 'string') res.set('ETag', version);
            res.status(204).end();
          }
          return;
        } catch (error) {
          if (!(error instanceof ConcurrentModification) || attempt >= PATCH_ATTEMPTS) throw error;
        }
      }
    }),
  );
}
