// The audit trail on the operator API: GET /api/audit (filtered, paginated rows) and
// GET /api/evidence/:idOrUserName (one person's whole story). Mounted by createOperatorRouter
// after authentication; validation errors and outages go on to its error handler (`{ error, detail }`).
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Database } from '../db/client.js';
import { buildEvidence, evidenceJson, PersonNotFound } from '../audit/evidence.js';
import { listAudit, type AuditPageInput } from '../audit/query.js';

export function createAuditRouter(options: { db: Database }): express.Router {
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

  return router;
}
