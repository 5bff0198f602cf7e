// The whole story of one person for an auditor: the identity as it stands, every lifecycle event
// with each system's outcome and when it was confirmed, every audit row about them, and whether
// those rows still verify against the hash chain. The work is proportional to the person, not the
// chain: their rows are checked with their neighbours and proven against the nearest hash a
// verification of the whole chain vouched for (decision 039), and the whole chain is cited from the
// latest recorded verification (decision 016), not re-verified per request.
import type { Database } from '../db/client.js';
import type { AuditEvent } from '../generated/prisma/client.js';
import { auditRowView, identitiesNamed, type AuditRowView } from './query.js';
import { proveAgainstAnchors } from './anchors.js';
import { latestVerification, type RecordedVerification } from './chain-verifier.js';
import { entryHashMatches, GENESIS, isIntegrated, linkProblem, pendingRows, type PendingRows } from './verify.js';
import { DOCUMENTED_READ, NO_READ_API, type SystemName } from '../connectors/types.js';

export class PersonNotFound extends Error {
  override readonly name = 'PersonNotFound';
  constructor(readonly subject: string) {
    super(`No identity has the id or userName "${subject}" (deleted identities are searched too)`);
  }
}

export interface EvidenceTarget {
  system: string;
  action: string;
  status: string;
  attempts: number;
  accountId: string | null;
  lastError: string | null;
  createdAt: string;
  confirmedAt: string | null;
  /** When a read of the account showed the change; null where none did or none is documented. */
  verifiedAt: string | null;
  /** What this outcome proves, in words an auditor can quote. */
  proof: string;
}

/**
 * What a target's outcome proves. Only a read of the account proves it was disabled; an accepted
 * call is the vendor's word; "no such account" proves nothing was disabled (issue 14).
 */
export function proofOf(target: { system: string; status: string; verifiedAt: Date | null }): string {
  switch (target.status) {
    case 'verified':
      return `verified: a read of the account showed the change at ${target.verifiedAt?.toISOString() ?? '?'}`;
    case 'succeeded':
      return DOCUMENTED_READ[target.system as SystemName] === false ? NO_READ_API : 'accepted by the vendor, not yet verified by a read';
    case 'not_found':
      return 'the system has no such account: nothing was deactivated';
    case 'needs_attention':
      return 'not done: needs attention';
    case 'manual_action_required':
      return 'the system cannot do this through its API: a person must';
    case 'dry_run':
      return 'dry run: nothing was sent';
    default:
      return target.status;
  }
}

/** The mass-release workflow and page that began the event, from its `workflow.started` row (transitions.beginMassPage). */
function massReleaseOf(rows: { eventId: string | null; action: string; data: unknown }[], eventId: string): EvidenceEvent['massRelease'] {
  for (const row of rows) {
    if (row.eventId !== eventId || row.action !== 'workflow.started') continue;
    // Only a page writes `page` (a per-leaver workflow's row names the event's own workflow).
    const data = row.data as { workflowId?: unknown; page?: unknown } | null;
    if (typeof data?.workflowId === 'string' && 'page' in data) return { workflowId: data.workflowId, page: typeof data.page === 'number' ? data.page : null };
  }
  return null;
}

export interface EvidenceEvent {
  id: string;
  kind: string;
  status: string;
  actor: string;
  workflowId: string;
  /**
   * Released with many others in one approval (decision 048): the mass-release workflow that acted
   * on this event instead of its own (`workflowId` never ran), and the page it was in.
   */
  massRelease: { workflowId: string; page: number | null } | null;
  /** When jml recorded the change (the SCIM request), and when it was to take effect. */
  createdAt: string;
  effectiveAt: string;
  completedAt: string | null;
  targets: EvidenceTarget[];
}

export interface RowCheck {
  id: number;
  /** Null when the row is not integrated yet. */
  seq: number | null;
  /** Null: the row's hash recomputes and it links to its neighbours. */
  problem: string | null;
}

export interface PersonEvidence {
  identity: {
    id: string;
    userName: string;
    externalId: string | null;
    displayName: string | null;
    email: string | null;
    employeeNumber: string | null;
    department: string | null;
    title: string | null;
    active: boolean;
    terminationDate: string | null;
    createdAt: string;
    updatedAt: string;
    deletedAt: string | null;
  };
  events: EvidenceEvent[];
  audit: AuditRowView[];
  /**
   * Each of this person's rows checked on its own: its hashes, and its links to the rows beside it.
   * `pending` lists the ids of rows the integrator has not linked into the chain yet: their
   * content matches their leaf hash, but no later row vouches for them until they are linked.
   * `proven` counts the rows whose recomputation reached a hash a verification of the whole chain
   * vouched for (decision 039); `unverified` lists the ids of integrated rows no verification has
   * reached yet (the next background verification, within a minute, does).
   */
  rows: { checked: number; failed: RowCheck[]; pending: number[]; proven: number; unverified: number[] };
}

export interface EvidenceReport {
  subject: string;
  generatedAt: string;
  /** Usually one; more when the same userName was provisioned again after a SCIM DELETE. */
  people: PersonEvidence[];
  /** The whole chain: a break anywhere makes every later row doubtful. */
  chain: ChainStatus;
}

export interface ChainStatus {
  /** The latest recorded verification of the whole chain; null when none was recorded yet. */
  verification: RecordedVerification | null;
  /** The head now: rows after the verification's throughSeq are integrated but not yet re-verified. */
  head: { seq: bigint; hash: string };
  /** Rows committed but not yet integrated into the chain. */
  pending: PendingRows;
}

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

/**
 * A row checked against its own hashes and its neighbours in the chain; a row not integrated yet
 * against its leaf hash alone.
 */
async function checkRows(db: Database, rows: AuditEvent[], head: Promise<{ seq: bigint }>): Promise<PersonEvidence['rows']> {
  // Independent reads, sent at once: on a loaded machine each round trip's wait is most of the time.
  const [checks, inclusions] = await Promise.all([
    checkAgainstNeighbours(db, rows, head),
    proveAgainstAnchors(db, rows.flatMap((row) => (row.seq === null ? [] : [row.seq]))),
  ]);
  let proven = 0;
  const unverified: number[] = [];
  for (const check of checks) {
    const inclusion = check.seq === null ? undefined : inclusions.get(BigInt(check.seq));
    if (!inclusion) continue;
    if (!inclusion.anchor) unverified.push(check.id);
    // A row that fails on its own is named for that; else for not reaching the verified hash.
    else if (inclusion.problem === null) proven += check.problem === null ? 1 : 0;
    else check.problem ??= inclusion.problem;
  }
  return {
    checked: checks.length,
    failed: checks.filter((check) => check.problem !== null),
    pending: checks.filter((check) => check.seq === null).map((check) => check.id),
    proven,
    unverified,
  };
}

async function checkAgainstNeighbours(db: Database, rows: AuditEvent[], chainHead: Promise<{ seq: bigint }>): Promise<RowCheck[]> {
  if (rows.length === 0) return [];
  const around = new Set<bigint>();
  for (const row of rows) {
    if (row.seq === null) continue;
    around.add(row.seq - 1n);
    around.add(row.seq + 1n);
  }
  const neighbours = around.size === 0 ? [] : await db.auditEvent.findMany({ where: { seq: { in: [...around] } } });
  const bySeq = new Map(neighbours.map((row) => [row.seq, row]));
  // The head read at the start of the request: a row integrated after it has a higher seq, and is
  // never called "the last row" wrongly.
  const head = await chainHead;
  return rows.map((row): RowCheck => {
    // Not in the chain yet: only its own leaf hash can be checked.
    const id = Number(row.id);
    if (!isIntegrated(row)) {
      return { id, seq: null, problem: entryHashMatches(row) ? null : 'entry hash mismatch (row content edited before integration)' };
    }
    const seq = Number(row.seq);
    const before = bySeq.get(row.seq - 1n);
    const start = row.seq === 1n ? GENESIS : before?.hash ? { seq: row.seq - 1n, hash: before.hash } : null;
    const own = start ? linkProblem(start, row) : { seq: row.seq, reason: `row ${row.seq - 1n} before it is missing (deleted or archived)` };
    if (own) return { id, seq, problem: own.reason };
    const after = bySeq.get(row.seq + 1n);
    if (after && after.prevHash !== row.hash) return { id, seq, problem: `row ${after.seq} after it does not link to it` };
    if (!after && row.seq < head.seq) return { id, seq, problem: `row ${row.seq + 1n} after it is missing (deleted)` };
    return { id, seq, problem: null };
  });
}

export async function buildEvidence(db: Database, subject: string, now: Date = new Date()): Promise<EvidenceReport> {
  // The whole chain's status does not depend on the person: read it while the person is read.
  const chainStatus = Promise.all([latestVerification(db), db.auditChainHead.findUniqueOrThrow({ where: { id: 1 } }), pendingRows(db)]);
  chainStatus.catch(() => {});
  const head = chainStatus.then(([, chainHead]) => chainHead);
  const ids = await identitiesNamed(db, subject.trim());
  const identities = await db.identity.findMany({
    where: { id: { in: ids } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    include: {
      events: {
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        include: { actions: { orderBy: [{ system: 'asc' }, { action: 'asc' }] } },
      },
    },
  });
  if (identities.length === 0) throw new PersonNotFound(subject);

  const people: PersonEvidence[] = [];
  for (const identity of identities) {
    const eventIds = identity.events.map((event) => event.id);
    const rows = await db.auditEvent.findMany({
      where: { OR: [{ identityId: identity.id }, { eventId: { in: eventIds } }] },
      orderBy: { id: 'asc' },
    });
    const checks = await checkRows(db, rows, head);
    people.push({
      identity: {
        id: identity.id,
        userName: identity.userName,
        externalId: identity.externalId,
        displayName: identity.displayName,
        email: identity.email,
        employeeNumber: identity.employeeNumber,
        department: identity.department,
        title: identity.title,
        active: identity.active,
        terminationDate: iso(identity.terminationDate),
        createdAt: identity.createdAt.toISOString(),
        updatedAt: identity.updatedAt.toISOString(),
        deletedAt: iso(identity.deletedAt),
      },
      events: identity.events.map((event) => ({
        id: event.id,
        kind: event.kind,
        status: event.status,
        actor: event.actor,
        workflowId: event.workflowId,
        massRelease: massReleaseOf(rows, event.id),
        createdAt: event.createdAt.toISOString(),
        effectiveAt: event.effectiveAt.toISOString(),
        completedAt: iso(event.completedAt),
        targets: event.actions.map((target) => ({
          system: target.system,
          action: target.action,
          status: target.status,
          attempts: target.attempts,
          accountId: target.accountId,
          lastError: target.lastError,
          createdAt: target.createdAt.toISOString(),
          confirmedAt: iso(target.confirmedAt),
          verifiedAt: iso(target.verifiedAt),
          proof: proofOf(target),
        })),
      })),
      audit: rows.map(auditRowView),
      rows: checks,
    });
  }
  const [verification, chainHead, pending] = await chainStatus;
  return { subject, generatedAt: now.toISOString(), people, chain: { verification, head: { seq: chainHead.seq, hash: chainHead.hash }, pending } };
}

/** One sentence on the whole chain, for the text report and the operator page. */
export function chainSummary(chain: ChainStatus): { ok: boolean; text: string } {
  const { verification, head, pending } = chain;
  const waiting = pending.rows === 0 ? '' : ` ${pending.rows} committed rows are not integrated yet.`;
  if (!verification) return { ok: false, text: `Whole chain: not verified yet (run \`jml audit verify\`); head at seq ${head.seq}.${waiting}` };
  const when = `${verification.verifiedAt.toISOString()} (${verification.verifiedBy})`;
  if (!verification.ok) {
    return { ok: false, text: `Whole chain: BROKEN at seq ${verification.firstBroken?.seq ?? '?'}: ${verification.firstBroken?.reason ?? ''}, found ${when}.${waiting}` };
  }
  const since = head.seq - verification.throughSeq;
  const newer = since > 0n ? ` ${since} rows integrated since await the next verification.` : '';
  return { ok: true, text: `Whole chain: verified intact up to seq ${verification.throughSeq}, hash ${verification.throughHash}, at ${when}; head at seq ${head.seq}.${newer}${waiting}` };
}

/** The report as JSON (the chain head's seq, a bigint, as a string). */
export function evidenceJson(report: EvidenceReport): unknown {
  return JSON.parse(JSON.stringify(report, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)));
}

/** Who acted on an event released in a mass release, in one sentence (text report and operator page). */
export function massReleaseText(release: NonNullable<EvidenceEvent['massRelease']>): string {
  return `released in a mass release: workflow ${release.workflowId}${release.page === null ? '' : `, page ${release.page}`} acted on it (the event has no workflow of its own)`;
}

/** A plain-text report an auditor can read or attach to a ticket. */
export function evidenceText(report: EvidenceReport): string {
  const lines: string[] = [`Evidence for "${report.subject}", generated ${report.generatedAt}`, ''];
  for (const person of report.people) {
    const { identity } = person;
    lines.push(
      `Identity ${identity.id}`,
      `  userName        ${identity.userName}`,
      `  externalId      ${identity.externalId ?? '-'}`,
      `  name            ${identity.displayName ?? '-'}`,
      `  email           ${identity.email ?? '-'}`,
      `  employee no.    ${identity.employeeNumber ?? '-'}`,
      `  active          ${identity.active}${identity.deletedAt ? ` (deleted over SCIM at ${identity.deletedAt})` : ''}`,
      `  termination     ${identity.terminationDate ?? '-'}`,
      `  provisioned     ${identity.createdAt}`,
      `  last changed    ${identity.updatedAt}`,
      '',
      `Lifecycle events (${person.events.length})`,
    );
    for (const event of person.events) {
      lines.push(
        `  ${event.kind} ${event.id}: ${event.status}`,
        `    recorded ${event.createdAt} from ${event.actor}, effective ${event.effectiveAt}, completed ${event.completedAt ?? '-'}`,
      );
      if (event.massRelease) lines.push(`    ${massReleaseText(event.massRelease)}`);
      for (const target of event.targets) {
        lines.push(
          `    ${target.system.padEnd(10)} ${target.action.padEnd(10)} ${target.status.padEnd(22)} confirmed ${target.confirmedAt ?? '-'}  attempts ${target.attempts}  account ${target.accountId ?? '-'}`,
        );
        lines.push(`      ${target.proof}`);
        if (target.lastError) lines.push(`      last error: ${target.lastError}`);
      }
    }
    lines.push('', `Audit rows (${person.audit.length})`);
    for (const row of person.audit) {
      lines.push(`  ${row.seq === null ? `(id ${row.id}, not yet integrated)` : `#${row.seq}`}  ${row.occurredAt}  ${row.actor.padEnd(12)} ${row.action}${row.system ? ` [${row.system}]` : ''}`);
    }
    lines.push(
      '',
      person.rows.failed.length === 0
        ? `These ${person.rows.checked} rows verify: each hash recomputes and links to the rows beside it.`
        : `${person.rows.failed.length} of these ${person.rows.checked} rows FAIL verification:`,
      ...person.rows.failed.map((check) => `  ${check.seq === null ? `id ${check.id}` : `#${check.seq}`}: ${check.problem}`),
      ...(person.rows.proven === 0
        ? []
        : [`${person.rows.proven} of them are proven as verified: recomputing the chain from each to the nearest hash a verification of the whole chain vouched for gives that hash.`]),
      ...(person.rows.unverified.length === 0
        ? []
        : [`${person.rows.unverified.length} of them were integrated after the latest verification reached them (ids ${person.rows.unverified.join(', ')}): checked against the rows beside them; the next verification proves them.`]),
      ...(person.rows.pending.length === 0
        ? []
        : [`${person.rows.pending.length} of them not yet integrated into the chain (ids ${person.rows.pending.join(', ')}): their content matches their own hash, and the chain will cover them within seconds.`]),
      '',
    );
  }
  lines.push(chainSummary(report.chain).text);
  return `${lines.join('\n')}\n`;
}
