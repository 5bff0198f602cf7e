// `jml reconcile [--system X] [--dry-run] [--json]`: lists each system's accounts and compares them
// with the identities, in this process (src/reconcile/run.ts). With JML_RECONCILE_REMEDIATE=true
// drifted leavers get a leaver event each, which the running jml's outbox relay starts.
// `show` and `ignore` only read and write rows: the connectors, the policy, the lifecycle settings
// and the reconciliation itself are imported by the actions that use them (issue 17: the CLI
// answers in about a second; test/cli/import-graph.test.ts).
import { z } from 'zod';
import type { Environment } from '../config.js';
import type { EnvironmentLike } from '../connectors/config.js';
import { SYSTEMS, type Connector, type SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import type { SystemReconciliation } from '../reconcile/run.js';
import { findingIdSchema, findingsQuerySchema, ignoreFinding, latestRuns, remediateFinding, runFindings, runIdSchema, type FindingView } from '../reconcile/operations.js';
import type { Output } from './events.js';
import { defaultOperator } from './operator.js';

/** What a reconciliation or a remediation needs beyond the database. */
async function lifecycleModules() {
  const [{ createConnectors, parseConnectorsConfig }, { loadPolicy }, { lifecycleSettingsOf }] = await Promise.all([
    import('../connectors/config.js'),
    import('../lifecycle/policy.js'),
    import('../lifecycle/settings.js'),
  ]);
  return { createConnectors, parseConnectorsConfig, loadPolicy, lifecycleSettingsOf };
}

export const RECONCILE_USAGE = `Usage: jml reconcile [--system rocketchat|userapi] [--dry-run] [--json]
       jml reconcile show [<run id>] [--kind drift|orphan|disabled_active] [--json]
       jml reconcile remediate <finding id> [--as <operator>]
       jml reconcile ignore <finding id> --reason "..." [--as <operator>]
  Lists every account of each system that documents a listing and compares it with the identities:
  drift (a leaver's account still active), orphans (active accounts of nobody), disabled accounts
  of active people. With JML_RECONCILE_REMEDIATE=true drifted leavers are deactivated through a
  leaver event each (the guard applies); --dry-run only says what would be deactivated.
  show lists the latest runs, or one run's findings with what to do about each; remediate starts a
  drifted leaver's deactivation; ignore leaves a finding as it is, with the reason (both audited).
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

export function findingsText(findings: FindingView[]): string {
  return findings
    .map((finding) => {
      const who = finding.identityId ? `${finding.userName ?? finding.identityId}` : 'nobody';
      const state = finding.ignoredBy ? `ignored by ${finding.ignoredBy}: ${finding.ignoredReason ?? ''}` : finding.eventId ? `leaver event ${finding.eventId}` : (finding.remediation ?? 'open');
      return `#${finding.id} ${finding.kind} ${finding.system} account ${finding.accountId} (${who}): ${state}${finding.nextStep ? `\n    next: ${finding.nextStep}` : ''}\n`;
    })
    .join('');
}

type FindingArgs = { action?: string; target?: string; kind?: string; reason?: string; as?: string; json: boolean; environment: Environment; raw: EnvironmentLike };

/** show, remediate, ignore: exit 0 done, 1 refused (not found, not actionable), 2 bad arguments. */
async function findingCommand(db: Database, args: FindingArgs, io: Output): Promise<number> {
  const fail = (text: string, code = 2) => {
    io.err(`${text}\n`);
    return code;
  };
  const by = args.as ?? defaultOperator();
  try {
    if (args.action === 'show') {
      if (!args.target) {
        const runs = await latestRuns(db);
        io.out(args.json ? `${JSON.stringify({ runs }, null, 2)}\n` : runs.map((run) => `${run.id} ${run.system} ${run.status}${run.dryRun ? ' (dry run)' : ''} ${run.startedAt.toISOString()}: ${run.accounts} accounts, ${run.drift} drift, ${run.orphans} orphans, ${run.disabledActive} disabled of active, ${run.remediated} remediated\n`).join('') || 'No reconciliation runs yet.\n');
        return 0;
      }
      const runId = runIdSchema.safeParse(args.target);
      const query = findingsQuerySchema.safeParse({ kind: args.kind, limit: 500 });
      if (!runId.success || !query.success) return fail(`${[...(runId.error?.issues ?? []), ...(query.error?.issues ?? [])].map((issue) => issue.message).join('\n')}\n${RECONCILE_USAGE}`);
      const findings: FindingView[] = [];
      let after: bigint | undefined;
      for (;;) {
        const page = await runFindings(db, runId.data, { ...query.data, after });
        findings.push(...page.findings);
        if (!page.next) break;
        after = BigInt(page.next);
      }
      io.out(args.json ? `${JSON.stringify({ findings }, null, 2)}\n` : findingsText(findings) || 'No findings.\n');
      return 0;
    }
    const findingId = findingIdSchema.safeParse(args.target);
    if (!findingId.success) return fail(`a finding id is required (jml reconcile show <run id> lists them)\n${RECONCILE_USAGE}`);
    if (args.action === 'ignore') {
      if (!args.reason?.trim()) return fail(`--reason is required: say why this finding is left as it is\n${RECONCILE_USAGE}`);
      const ignored = await ignoreFinding(db, { findingId: findingId.data, by, reason: args.reason });
      io.out(args.json ? `${JSON.stringify(ignored, null, 2)}\n` : `Ignored finding ${ignored.id} (${ignored.kind}, ${ignored.system} account ${ignored.accountId}); later runs show it ignored too.\n`);
      return 0;
    }
    const env = args.environment;
    const { createConnectors, parseConnectorsConfig, loadPolicy, lifecycleSettingsOf } = await lifecycleModules();
    const systems = Object.keys(createConnectors(parseConnectorsConfig(args.raw))) as SystemName[];
    const remediated = await remediateFinding(db, lifecycleSettingsOf(env, systems, loadPolicy(env.JML_POLICY_FILE)), { findingId: findingId.data, by });
    io.out(args.json ? `${JSON.stringify(remediated, null, 2)}\n` : `Remediating finding ${remediated.id}: leaver event ${remediated.eventId} deactivates ${remediated.system} account ${remediated.accountId}; the running jml's outbox relay starts it (the guard applies).\n`);
    return 0;
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'RunNotFound' || name === 'FindingNotFound' || name === 'FindingNotActionable' || name === 'ZodError') return fail((error as Error).message, 1);
    throw error;
  }
}

/** Exit codes: 0 complete and nothing found, 1 findings or an incomplete listing, 2 bad arguments. */
export async function reconcileCommand(
  db: Database,
  args: { system?: string; dryRun: boolean; json: boolean; raw: EnvironmentLike; environment: Environment; connectors?: Partial<Record<SystemName, Connector>> } & Omit<FindingArgs, 'json' | 'environment' | 'raw'>,
  io: Output = processOutput,
): Promise<number> {
  if (args.action) {
    if (!['show', 'remediate', 'ignore'].includes(args.action)) {
      io.err(`Unknown reconcile command ${args.action}\n${RECONCILE_USAGE}`);
      return 2;
    }
    return findingCommand(db, args, io);
  }
  const parsed = argsSchema.safeParse({ system: args.system });
  if (!parsed.success) {
    io.err(`${parsed.error.issues.map((issue) => issue.message).join('\n')}\n${RECONCILE_USAGE}`);
    return 2;
  }
  const [{ createConnectors, parseConnectorsConfig, loadPolicy, lifecycleSettingsOf }, { reconcileSystems }, { logger }] = await Promise.all([
    lifecycleModules(),
    import('../reconcile/run.js'),
    import('../logger.js'),
  ]);
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
