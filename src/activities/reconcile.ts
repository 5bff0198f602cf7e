// Reconciliation of one system as a Temporal activity (src/reconcile/run.ts does the work). A
// listing that failed with a retryable error is retried by Temporal as a new run, up to the
// workflow's attempts; the last attempt's run stays "incomplete", never "no drift".
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { SystemName } from '../connectors/types.js';
import type { LifecycleSettings } from '../lifecycle/record.js';
import { reconcileSystem } from '../reconcile/run.js';
import type { ReconcileOutcome } from '../../workflows/contract.js';
import type { ActivityDependencies } from './index.js';

type Deps = ActivityDependencies & { now: () => Date };

export interface ReconcileSettings {
  /** What remediation's leaver events are recorded with. */
  lifecycle: LifecycleSettings;
  /** JML_RECONCILE_REMEDIATE. */
  remediate: boolean;
}

export function createReconcileActivities({ db, connectors, dryRun, logger, now, reconcile }: Deps) {
  return {
    async reconcileAccounts(request: { system: SystemName; dryRun: boolean; trigger: string }): Promise<ReconcileOutcome> {
      if (!connectors[request.system]) {
        throw ApplicationFailure.create({ type: 'SystemNotConfigured', message: `${request.system} is not configured on this worker.`, nonRetryable: true });
      }
      const context = Context.current();
      const report = await reconcileSystem(
        { db, connectors, logger, now, dryRun, lifecycle: reconcile?.lifecycle, onPage: (progress) => context.heartbeat(progress) },
        { system: request.system, dryRun: request.dryRun, remediate: reconcile?.remediate ?? false, trigger: request.trigger },
      );
      if (report.status === 'incomplete' && report.retryable && context.info.attempt < (context.info.retryPolicy?.maximumAttempts ?? 1)) {
        throw ApplicationFailure.create({ type: 'ReconcileListingFailed', message: `run ${report.runId} is incomplete: ${report.error}` });
      }
      const { system, runId, status, drift, orphans, disabledActive, remediated } = report;
      return { system, runId, status, drift, orphans, disabledActive, remediated };
    },
  };
}
