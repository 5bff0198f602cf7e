// Administration on the operator API (issue 15, docs/decisions/024-roles.md): GET /api/tokens
// (prefixes, never secrets), POST /api/tokens (the secret answered once), POST
// /api/tokens/:id/revoke, GET /api/settings (secrets reduced to "set" or not). The actions and
// their audit rows are src/auth/administration.ts's. Mounted by createOperatorRouter after
// authentication and the role check; invalid input throws a ZodError and named errors go on to
// its error handler (`{ error, detail }`).
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { createTokenAs, createTokenSchema, listTokensAs, readSettingsAs, revokeTokenAs } from '../auth/administration.js';
import type { Principal } from '../auth/tokens.js';
import type { PublicSetting } from '../config.js';
import type { Database } from '../db/client.js';

export interface AdminRoutesOptions {
  db: Database;
  /** The admin the request authenticated as (the operator router's principal). */
  principalOf: (req: Request) => Principal;
  /** The effective settings without secrets (src/config.ts publicSettings); GET /settings answers 404 without them. */
  settings?: Record<string, PublicSetting>;
}

const noQuery = z.strictObject({});

export function createAdminRouter({ db, principalOf, settings }: AdminRoutesOptions): express.Router {
  const router = express.Router();
  const run = (handler: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).catch(next);
  };

  router.get(
    '/tokens',
    run(async (req, res) => {
      noQuery.parse(req.query);
      res.json({ tokens: await listTokensAs(db, principalOf(req)) });
    }),
  );

  router.post(
    '/tokens',
    run(async (req, res) => {
      const created = await createTokenAs(db, principalOf(req), createTokenSchema.parse((req.body as unknown) ?? {}));
      // The secret is in this answer and nowhere else: no cache may keep it (as RFC 6749 §5.1 asks of token answers).
      res.set('Cache-Control', 'no-store').status(201).json({ ...created, shownOnce: 'This is the only time the token is shown; only its SHA-256 is stored.' });
    }),
  );

  router.post(
    '/tokens/:id/revoke',
    run(async (req, res) => {
      res.json({ revoked: await revokeTokenAs(db, principalOf(req), String(req.params.id)) });
    }),
  );

  router.get(
    '/settings',
    run(async (req, res) => {
      noQuery.parse(req.query);
      if (!settings) {
        res.status(404).json({ error: 'NotFound', detail: 'This process serves no settings view (started without its environment)' });
        return;
      }
      res.json({ settings: await readSettingsAs(db, principalOf(req), settings) });
    }),
  );

  return router;
}
