// What an operator does about a target that jml cannot finish on its own (issue 14): the one
// sentence the operator page and `jml events show` print beside it. Null: nothing to do.

export interface TargetForNextStep {
  system: string;
  action: string;
  status: string;
  lastError: string | null;
}

export function nextStep(eventId: string, target: TargetForNextStep): string | null {
  const retry = `then retry it (jml events retry ${eventId} --system ${target.system}, or Retry on the operator page)`;
  switch (target.status) {
    case 'needs_attention':
      return `Fix what the last error names in ${target.system} or its settings, ${retry}.`;
    case 'not_found':
      // With a last error jml suspects its own lookup (decision 021); without, the system simply has no such account.
      return target.lastError
        ? `Check the lookup setting the error names (npx jml connectors check --user <userName> tries it), ${retry}.`
        : `${target.system} has no account for this person: confirm they never had one; nothing was ${target.action}d.`;
    case 'manual_action_required':
      return `${target.system}'s API cannot ${target.action} accounts: ${target.action} it by hand in ${target.system}'s own console, and keep the ticket as evidence.`;
    default:
      return null;
  }
}

/** A reconciliation finding as the operator page, the API and `jml reconcile show` list it. */
export interface FindingForNextStep {
  id: string;
  system: string;
  kind: string;
  /** What remediation did: "event", a dry run's "would deactivate ...", or why it started nothing. */
  remediation: string | null;
  eventId: string | null;
  ignoredBy: string | null;
  ignoredReason: string | null;
}

/** What an operator does about a reconciliation finding (docs/decisions/022-reconciliation.md). Null: nothing to do. */
export function findingNextStep(finding: FindingForNextStep): string | null {
  const { id, system } = finding;
  const ignore = `or ignore it with the reason (jml reconcile ignore ${id} --reason "...", or Ignore on the operator page)`;
  if (finding.ignoredBy) return null;
  switch (finding.kind) {
    case 'drift':
      if (finding.eventId) return `A leaver event deactivates it: follow it (jml events show ${finding.eventId}).`;
      if (finding.remediation && !finding.remediation.startsWith('would ')) return `Nothing was started: ${finding.remediation}.`;
      return `This leaver's ${system} account is still active: deactivate it (jml reconcile remediate ${id}, or Remediate on the operator page; the guard applies), ${ignore}.`;
    case 'orphan':
      return `An active ${system} account that matches nobody: find its owner (npx jml connectors check --user <userName> tries the lookup) and fix their identity, or disable it in ${system}'s own console; then ${ignore.slice(3)}.`;
    case 'disabled_active':
      return `${system} shows this active person's account disabled: ask their manager whether they need it and re-enable it in ${system}, ${ignore}.`;
    default:
      return null;
  }
}
