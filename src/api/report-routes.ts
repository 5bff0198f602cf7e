// Reports in the operator API, mounted by src/api/router.ts behind its authentication. Invalid
// input throws a ZodError: express hands it to the operator router's error handler (400).
import express from 'express';
import { z } from 'zod';
import { DEFAULT_DEPROVISION_SLA_MS, deprovisioningReport, reportCsv, reportWindowSchema } from '../audit/report.js';
import type { Database } from '../db/client.js';

export interface ReportRoutesOptions {
  db: Database;
  /** JML_DEPROVISION_SLA_MS (default 4 hours). */
  deprovisionSlaMs?: number;
}

const deprovisioningQuery = z.strictObject({
  from: z.string().optional(),
  to: z.string().optional(),
  format: z.enum(['json', 'csv']).default('json'),
});

export function createReportRouter({ db, deprovisionSlaMs = DEFAULT_DEPROVISION_SLA_MS }: ReportRoutesOptions): express.Router {
  const router = express.Router();

  // GET /api/reports/deprovisioning?from=&to=&format=json|csv
  router.get('/deprovisioning', async (req, res) => {
    const { format, ...window } = deprovisioningQuery.parse(req.query);
    const { from, to } = reportWindowSchema.parse(window);
    const report = await deprovisioningReport(db, { from, to, slaMs: deprovisionSlaMs });
    if (format === 'csv') {
      const name = `deprovisioning-${from.toISOString().slice(0, 10)}-${to.toISOString().slice(0, 10)}.csv`;
      res.type('text/csv; charset=utf-8').attachment(name).send(reportCsv(report));
      return;
    }
    res.json(report);
  });

  return router;
}
