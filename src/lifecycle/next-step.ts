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
