// The step an operator takes for each target jml cannot finish alone, on the page and in the CLI.
import { describe, expect, it } from 'vitest';
import { nextStep } from '../../src/lifecycle/next-step.js';
import type { EventView } from '../../src/lifecycle/operations.js';
import { overviewBody } from '../../src/ui/pages.js';

const EVENT = '5f0c3a56-3f7e-4a8e-9d58-2f4c1c9b7a10';
const target = (system: string, action: string, status: string, lastError: string | null = null) =>
  ({ system, action, status, lastError, attempts: 1, accountId: null, confirmedAt: null, updatedAt: new Date('2026-12-01T00:00:00Z') });

describe('next step', () => {
  it('names the action for each target an operator must finish, and nothing for settled ones', () => {
    expect(nextStep(EVENT, target('userapi', 'deactivate', 'needs_attention', 'PermanentDownstreamError: 403'))).toBe(
      `Fix what the last error names in userapi or its settings, then retry it (jml events retry ${EVENT} --system userapi, or Retry on the operator page).`,
    );
    expect(nextStep(EVENT, target('rocketchat', 'deactivate', 'not_found', 'Every system answered "no such account"'))).toContain('npx jml connectors check');
    expect(nextStep(EVENT, target('rocketchat', 'deactivate', 'not_found'))).toBe('rocketchat has no account for this person: confirm they never had one; nothing was deactivated.');
    expect(nextStep(EVENT, target('mendix', 'reactivate', 'manual_action_required'))).toBe(
      "mendix's API cannot reactivate accounts: reactivate it by hand in mendix's own console, and keep the ticket as evidence.",
    );
    for (const status of ['verified', 'succeeded', 'pending', 'cancelled', 'dry_run']) expect(nextStep(EVENT, target('userapi', 'deactivate', status))).toBeNull();
  });

  it('shows it beside the target on the operator page', () => {
    const event: EventView = {
      id: EVENT, identityId: 'b1d7f0a2-55a4-4a4e-8f0e-0d6a5c0b1e22', kind: 'rehire', status: 'completed', actor: 'okta', workflowId: `lifecycle-${EVENT}`,
      effectiveAt: new Date(), createdAt: new Date(), updatedAt: new Date(), completedAt: new Date(), firstApprovedBy: null,
      targets: [target('mendix', 'reactivate', 'manual_action_required'), target('rocketchat', 'reactivate', 'verified')],
    };
    const page = overviewBody({ held: [], inFlight: [], attention: [], completed: [event], names: new Map(), canAct: false }).value;
    expect(page).toContain('<span class="next-step">To do: mendix&#39;s API cannot reactivate accounts');
    expect(page.match(/class="next-step"/g)).toHaveLength(1);
  });
});
