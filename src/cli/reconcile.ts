// `jml reconcile [--system X] [--dry-run] [--json]`: lists each system's accounts and compares them
// with the identities, in this process (src/reconcile/run.ts). With JML_RECONCILE_REMEDIATE=true
// drifted leavers get a leaver event each, which the running jml's outbox relay starts.
import { z } from 'zod';
import type { Environment } from '../config.js';
import { createConnectors, parseConnectorsConfig, type EnvironmentLike } from '../connectors/config.js';
import { SYSTEMS, type Connector, type SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import { loadPolicy } from '../lifecycle/policy.js';
import { lifecycleSettingsOf } from '../lifecycle/settings.js';
import { logger } from '../logger.js';
import { reconcileSystems, type SystemReconciliation } from '../reconcile/run.js';
import type { Output } from './events.js';

export const RECONCILE_USAGE = `Usage: jml reconcile [--system rocketchat|userapi] [--dry-run] [--json]
  Lists every account of each system that documents a listing and compares it with the identities:
  drift (a leaver's account still active), orphans (active accounts of nobody), disabled accounts
  of active people. With JML_RECONCILE_REMEDIATE=true drifted leavers are deactivated through a
  leaver event each (the guard applies); --dry-run only says what would be deactivated.
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const argsSchema = z.strictObject({ system: z.enum(SYSTEMS, { error: `--system must be one of ${SYSTEMS.join(', ')}` }).optional() });

export function reconcileText(reports: SystemReconciliation[]): string {
  return reports
    .map((report) => {
      if (report.status === 'not_listable') return `${report.system}: not reconciled: ${report.error}\n`;
      const head = report.status === 'incomplete' ? `${report.system}: INCOMPLETE (${report.error}); what was listed before:` : `${report.system}: complete;`;
      return `${head} ${report.accounts} accounts, ${report.matched} matched, ${report.drift} drift, ${report.orphans} orphans, ${report.disabledActive} disabled of active people, ${report.remediated} remediated (run ${report.runId})\n`;
    })
    .join('');
}

/** Exit codes: 0 complete and nothing found, 1 findings or an incomplete listing, 2 bad arguments. */
export async function reconcileCommand(
  db: Database,
  args: { system?: string; dryRun: boolean; json: boolean; raw: EnvironmentLike; environment: Environment; connectors?: Partial<Record<SystemName, Connector>> },
  io: Output = processOutput,
): Promise<number> {
  const parsed = argsSchema.safeParse({ system: args.system });
  if (!parsed.success) {
    io.err(`${parsed.error.issues.map((issue) => issue.message).join('\n')}\n${RECONCILE_USAGE}`);
    return 2;
  }
  const connectors = args.connectors ?? (createConnectors(parseConnectorsConfig(args.raw)));
  if (parsed.data.system && !connectors[parsed.data.system]) {
    io.err(`${parsed.data.system} is not configured: set its URL and credentials (README, Configuration).\n`);
    return 2;
  }
  const env = args.environment;
  const systems = Object.keys(connectors) as SystemName[];
  const reports = await reconcileSystems(
    {
      db,
      connectors,
      logger,
      lifecycle: lifecycleSettingsOf(env, systems, loadPolicy(env.JML_POLICY_FILE)),
      dryRun: (system) => env.JML_DRY_RUN || env.JML_DRY_RUN_SYSTEMS.includes(system),
    },
    { system: parsed.data.system, dryRun: args.dryRun, remediate: env.JML_RECONCILE_REMEDIATE, trigger: 'cli' },
  );
  io.out(args.json ? `${JSON.stringify({ reports }, null, 2)}\n` : reconcileText(reports));
  const clean = reports.every((report) => report.status !== 'incomplete' && report.drift + report.orphans + report.disabledActive === 0);
  return clean ? 0 : 1;
}
