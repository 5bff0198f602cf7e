// Remediation of drift (JML_RECONCILE_REMEDIATE=true): a leaver whose account is still active
// downstream gets a new leaver event for that one system, recorded by transitions.ts like any
// leaver. Its workflow then takes the same path as every leaver: the mass-deprovision guard (a run
// that finds many drifts holds them for an operator), the system's rate-limited task queue, its
// own idempotency key, the read-back. Nothing is sent from here.
import { appendAudit, type Transaction } from '../audit/append.js';
import type { SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import type { LifecycleSettings } from '../lifecycle/record.js';
import { recordEvent } from '../lifecycle/transitions.js';

/** Findings remediated per transaction: bounds memory and the transaction, whatever the drift. */
const BATCH = 200;
/** One remediation at a time across runs and processes: two runs never both start a leaver for one account. */
const REMEDIATION_LOCK = 'jml-reconcile-remediation';

export interface DriftFinding {
  id: bigint;
  identityId: string;
  accountId: string;
}

/**
 * Why a drifted account gets no new event: an event of this person already has (or had, and
 * failed) a deactivation of this system in hand. Sending another would be a second deactivation
 * for the same event and system; an operator retries a failed one (`jml events retry`). One
 * statement for a whole batch of people (the people absent from the map have nothing in hand).
 */
async function inHandOf(tx: Transaction, identityIds: readonly string[], system: SystemName): Promise<Map<string, string>> {
  const rows = await tx.$queryRaw<{ identity_id: string; id: string; status: string; target: string }[]>`
    SELECT DISTINCT ON (e.identity_id) e.identity_id::text AS identity_id, e.id, e.status::text AS status, t.status::text AS target
    FROM lifecycle_event e JOIN target_action t ON t.event_id = e.id
    WHERE e.identity_id = ANY(${[...new Set(identityIds)]}::uuid[]) AND t.system = ${system} AND t.action = 'deactivate'
      AND (e.status IN ('pending', 'running', 'waiting', 'held') OR t.status IN ('pending', 'needs_attention'))
    ORDER BY e.identity_id, e.created_at DESC`;
  return new Map(
    rows.map((row) => [
      row.identity_id,
      row.target === 'needs_attention' ? `event ${row.id}'s deactivation needs attention: retry it (jml events retry ${row.id})` : `event ${row.id} is ${row.status}: its deactivation is in hand`,
    ]),
  );
}

/**
 * One drifted account: a leaver event for that system, or the reason none is started (written to
 * the finding either way). The caller holds REMEDIATION_LOCK (lockRemediation) in `tx`.
 */
export async function remediateOne(
  tx: Transaction,
  settings: LifecycleSettings,
  input: { runId: string; system: SystemName; actor: string; now: () => Date; finding: DriftFinding; inHand?: Map<string, string> },
): Promise<{ eventId: string | null; skipped: string | null }> {
  const { finding } = input;
  // A batch passes what its people have in hand, read at once; kept current as events are made.
  const inHand = input.inHand ?? (await inHandOf(tx, [finding.identityId], input.system));
  const skipped = inHand.get(finding.identityId);
  if (skipped) {
    await tx.reconcileFinding.update({ where: { id: finding.id }, data: { remediation: skipped } });
    return { eventId: null, skipped };
  }
  const now = input.now();
  const event = await recordEvent(
    tx,
    {
      identityId: finding.identityId,
      change: { kind: 'leaver', changes: { [`account.${input.system}`]: { from: { accountId: finding.accountId, active: true }, to: { active: false } } } },
      targets: [{ system: input.system, action: 'deactivate' }],
      actor: input.actor,
      now,
    },
    settings,
  );
  await appendAudit(tx, [
    ...event.audit,
    { actor: input.actor, action: 'reconcile.drift.remediating', identityId: finding.identityId, eventId: event.eventId, system: input.system, data: { runId: input.runId, accountId: finding.accountId } },
  ], now);
  await tx.reconcileFinding.update({ where: { id: finding.id }, data: { remediation: 'event', eventId: event.eventId } });
  // The same person's other drifted account of this system (a second account) is now in hand.
  inHand.set(finding.identityId, `event ${event.eventId} is pending: its deactivation is in hand`);
  return { eventId: event.eventId, skipped: null };
}

/** One remediation at a time across runs, processes and operators. */
export async function lockRemediation(tx: Transaction): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${REMEDIATION_LOCK}))`;
}

export async function remediateDrift(db: Database, settings: LifecycleSettings, input: { runId: string; system: SystemName; actor: string; now: () => Date }): Promise<number> {
  let created = 0;
  for (;;) {
    const batch = await db.$queryRaw<DriftFinding[]>`
      SELECT f.id, f.identity_id AS "identityId", f.account_id AS "accountId" FROM reconcile_finding f
      WHERE f.run_id = ${input.runId}::uuid AND f.kind = 'drift' AND f.remediation IS NULL
        -- An operator ignored this account's drift before (operations.ts): it is left as it is.
        AND NOT EXISTS (SELECT 1 FROM reconcile_finding p WHERE p.system = f.system AND p.account_id = f.account_id AND p.kind = 'drift' AND p.ignored_by IS NOT NULL)
      ORDER BY f.id LIMIT ${BATCH}`;
    if (batch.length === 0) return created;
    created += await db.$transaction(
      async (tx) => {
        await lockRemediation(tx);
        const inHand = await inHandOf(tx, batch.map((finding) => finding.identityId), input.system);
        let events = 0;
        for (const finding of batch) {
          if ((await remediateOne(tx, settings, { ...input, finding, inHand })).eventId) events += 1;
        }
        return events;
      },
      { timeout: 60_000 },
    );
  }
}
