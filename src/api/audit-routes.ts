// The audit trail on the operator API: GET /api/audit (filtered, paginated rows) and
// GET /api/evidence/:idOrUserName (one person's whole story), GET /api/evidence/:idOrUserName/bundle
// (the same as a signed bundle, docs/decisions/036-evidence-bundles.md). Mounted by createOperatorRouter
// after authentication; validation errors and outages go on to its error handler (`{ error, detail }`).
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Database } from '../db/client.js';
import { bundleFileName, buildBundle, type BundleSource } from '../audit/bundle.js';
import { BundleError } from '../audit/bundle-verify.js';
import { buildEvidence, evidenceJson, PersonNotFound } from '../audit/evidence.js';
import { listAudit, type AuditPageInput } from '../audit/query.js';

export function createAuditRouter(options: { db: Database; bundles?: BundleSource }): express.Router {
  const { db } = options;
  const router = express.Router();

  // ?identity=&actor=&action=&system=&event=&from=&to=&limit=&cursor= (src/audit/query.ts)
  router.get('/audit', (req: Request, res: Response, next: NextFunction) => {
    listAudit(db, req.query as AuditPageInput).then((page) => res.json(page), next);
  });

  router.get('/evidence/:subject', (req: Request, res: Response, next: NextFunction) => {
    buildEvidence(db, String(req.params.subject)).then(
      (report) => res.json(evidenceJson(report)),
      (error: unknown) => {
        if (!(error instanceof PersonNotFound)) return next(error);
        res.status(404).json({ error: error.name, detail: error.message });
      },
    );
  });

  router.get('/evidence/:subject/bundle', (req: Request, res: Response, next: NextFunction) => {
    const key = options.bundles?.key;
    if (!key) {
      res.status(404).json({ error: 'BundlesNotConfigured', detail: 'Evidence bundles are signed with the checkpoint key, and this process has none (JML_CHECKPOINT_KEY).' });
      return;
    }
    const subject = String(req.params.subject);
    buildBundle(db, subject, { key, directory: options.bundles!.directory }).then(
      ({ zip }) => res.type('application/zip').attachment(bundleFileName(subject)).send(zip),
      (error: unknown) => {
        if (!(error instanceof PersonNotFound) && !(error instanceof BundleError)) return next(error);
        res.status(error instanceof PersonNotFound ? 404 : 409).json({ error: error.name, detail: error.message });
      },
    );
  });

  return router;
}
