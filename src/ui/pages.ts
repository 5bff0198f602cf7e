// The operator pages, rendered on the server from the same services the operator API calls.
// Everything dynamic goes through `html`, which escapes it.
import { nextStep } from '../lifecycle/next-step.js';
import { TO_DO_DEFAULT_DAYS, type TargetToDo } from '../lifecycle/to-do.js';
import type { DeprovisioningReport } from '../audit/report.js';
import { formatDuration } from '../audit/report.js';
import { chainSummary, massReleaseText, type EvidenceReport } from '../audit/evidence.js';
import type { EventView, TargetView } from '../lifecycle/operations.js';
import { rowChangeSummary, type ImportReport } from '../hr/import.js';
import type { HeldIdleSweep } from '../lifecycle/idle-sweep-approval.js';
import type { FindingView } from '../reconcile/operations.js';
import { slaChart } from './chart.js';
import { html, type SafeHtml } from './html.js';
import { can, TOKEN_KINDS, type Permission } from '../auth/roles.js';
import type { Session } from './sessions.js';
import type { TokenView } from '../auth/tokens.js';
import type { PublicSetting } from '../config.js';
import { CLIENT_PROFILES } from '../scim/dialect/profiles.js';

export interface LayoutInput {
  title: string;
  session?: Session;
  body: SafeHtml;
}

export function layout({ title, session, body }: LayoutInput): string {
  const flash = session?.flash;
  // Only the pages this role may open (src/auth/roles.ts); the routes refuse the rest anyway.
  const may = (permission: Permission) => (session ? can(session.principal, permission) : false);
  const nav = session
    ? html`<nav>${may('readEvents') ? html`<a href="/ui/">Leavers</a>` : ''}${may('readAudit') ? html`<a href="/ui/report">SLA report</a><a href="/ui/evidence">Evidence</a><a href="/ui/reconcile">Reconciliation</a>` : ''}${may('changePeople') ? html`<a href="/ui/hr">HR import</a>` : ''}${may('manageTokens') || may('manageSettings') ? html`<a href="/ui/admin">Administration</a>` : ''}<span class="who">${session.principal.name}</span><form method="post" action="/ui/logout"><button type="submit">Log out</button></form></nav>`
    : '';
  return `<!doctype html>\n${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title} · jml</title><link rel="stylesheet" href="/ui/ui.css"><link rel="icon" href="/ui/favicon.svg"></head><body><header><h1>jml</h1>${nav}</header>${flash ? html`<p class="flash ${flash.kind}" role="status">${flash.text}</p>` : ''}<main>${body}</main></body></html>`.value}`;
}

export function loginPage(error?: string): string {
  return layout({
    title: 'Log in',
    body: html`<h2>Log in</h2>${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}<form class="login" method="post" action="/ui/login"><label>Token <input type="password" name="token" autocomplete="off" required></label><button type="submit">Log in</button></form><p class="hint">Create a token with <code>npx jml tokens create --name &lt;you&gt; --role operator</code> (or <code>--role auditor</code> to read the record only, <code>--role admin</code> for tokens and settings).</p>`,
  });
}

const time = (value: Date | string | null) => {
  if (value === null) return '–';
  const iso = typeof value === 'string' ? value : value.toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
};

export type Names = Map<string, string>;

function person(event: EventView, names: Names): SafeHtml {
  const userName = names.get(event.identityId);
  return html`<a class="person" href="/ui/evidence?subject=${encodeURIComponent(event.identityId)}">${userName ?? event.identityId}</a>`;
}

function targetCells(eventId: string, targets: TargetView[]): SafeHtml {
  return html`<ul class="targets">${targets.map((target) => {
    const step = nextStep(eventId, target);
    return html`<li class="target ${target.status}" data-system="${target.system}"><span class="system">${target.system}</span> <span class="status">${target.status}</span>${target.lastError ? html` <span class="error">${target.lastError}</span>` : ''}${step ? html` <span class="next-step">To do: ${step}</span>` : ''}</li>`;
  })}</ul>`;
}

function eventTable(id: string, events: EventView[], names: Names, actions?: (event: EventView) => SafeHtml): SafeHtml {
  if (events.length === 0) return html`<p class="empty" id="${id}-empty">None.</p>`;
  return html`<table id="${id}-table"><thead><tr><th>Person</th><th>Kind</th><th>Status</th><th>Recorded</th><th>Effective</th><th>Systems</th>${actions ? html`<th>Action</th>` : ''}</tr></thead><tbody>${events.map(
    (event) => html`<tr data-event="${event.id}"><td>${person(event, names)}</td><td>${event.kind}</td><td class="event-status">${event.status}</td><td>${time(event.createdAt)}</td><td>${time(event.effectiveAt)}</td><td>${targetCells(event.id, event.targets)}</td>${actions ? html`<td class="actions">${actions(event)}</td>` : ''}</tr>`,
  )}</tbody></table>`;
}

const postButton = (action: string, label: string, fields: Record<string, string> = {}, extra?: SafeHtml) =>
  html`<form method="post" action="${action}">${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}${extra ?? ''}<button type="submit">${label}</button></form>`;

export interface OverviewInput {
  held: EventView[];
  inFlight: EventView[];
  attention: EventView[];
  completed: EventView[];
  names: Names;
  /** Whether the viewer may approve, reject and retry: without it the page shows no buttons. */
  canAct: boolean;
  /** The latest reconciliation runs, when reconciliation is set up (docs/decisions/022-reconciliation.md). */
  reconcileRuns?: ReconcileRunView[];
  /** Idle sweeps the guard holds for an operator (docs/decisions/042-idle-sweep-records-each-person.md). */
  idleSweeps?: HeldIdleSweep[];
  /** Targets to finish by hand across events: attention, not found, manual action (src/lifecycle/to-do.ts). */
  toDo?: TargetToDo[];
}

export interface ReconcileRunView {
  id: string;
  system: string;
  status: string;
  trigger: string;
  dryRun: boolean;
  startedAt: Date;
  finishedAt: Date | null;
  accounts: number;
  drift: number;
  orphans: number;
  disabledActive: number;
  remediated: number;
  error: string | null;
}

function reconcileSection(runs: ReconcileRunView[], canAct: boolean): SafeHtml {
  const rows = runs.map(
    (run) =>
      html`<tr data-run="${run.id}"><td><a href="/ui/reconcile/runs/${run.id}">${run.system}</a></td><td class="run-status">${run.status === 'incomplete' ? html`<strong>incomplete</strong>: ${run.error ?? ''}` : run.status}${run.dryRun ? ' (dry run)' : ''}</td><td>${run.trigger}</td><td>${time(run.finishedAt ?? run.startedAt)}</td><td>${String(run.accounts)}</td><td>${String(run.drift)}</td><td>${String(run.orphans)}</td><td>${String(run.disabledActive)}</td><td>${String(run.remediated)}</td></tr>`,
  );
  const buttons = canAct ? html`${postButton('/ui/reconcile', 'Reconcile now')}${postButton('/ui/reconcile', 'Dry run', { dryRun: 'true' })}` : '';
  return html`<section id="reconcile"><h2>Reconciliation</h2>${buttons}<p>Drift: a leaver's account still active (deactivated when JML_RECONCILE_REMEDIATE is on). Orphan: an active account of nobody: find its owner or disable it in the system. Disabled of active: check with the person's manager. Open a run for its findings, each with what to do.</p><table id="reconcile-table"><thead><tr><th>System</th><th>Status</th><th>By</th><th>Finished</th><th>Accounts</th><th>Drift</th><th>Orphans</th><th>Disabled of active</th><th>Remediated</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function idleSweepSection(sweeps: HeldIdleSweep[], canAct: boolean): SafeHtml {
  const actions = (sweep: HeldIdleSweep) =>
    html`${sweep.approvedBy ? html`<p class="approval">Approved by ${sweep.approvedBy}; needs a different operator</p>` : ''}${postButton(`/ui/idle-sweeps/${encodeURIComponent(sweep.workflowId)}/approve`, 'Approve')}${postButton(`/ui/idle-sweeps/${encodeURIComponent(sweep.workflowId)}/reject`, 'Reject', {}, html`<input type="text" name="reason" placeholder="reason (optional)" maxlength="1000">`)}`;
  const rows = sweeps.map(
    (sweep) =>
      html`<tr data-workflow="${sweep.workflowId}"><td>${sweep.workflowId}</td><td>${time(sweep.heldAt)}</td><td>${String(sweep.wouldDeactivate)}</td><td>${sweep.role ?? '–'}, idle ${sweep.daysIdle === null ? '–' : String(sweep.daysIdle)} days</td>${canAct ? html`<td class="actions">${actions(sweep)}</td>` : ''}</tr>`,
  );
  return html`<section id="idle-sweeps"><h2>Idle sweeps held by the guard (${sweeps.length})</h2><p>Each would deactivate more Rocket.Chat users than JML_GUARD_MAX_LEAVERS at once. Its audit row (rocketchat.idle_sweep.held) lists every account: read it, then approve or reject (the same as npx jml idle-sweep approve|reject).</p><table id="idle-sweep-table"><thead><tr><th>Workflow</th><th>Held</th><th>Would deactivate</th><th>Rule</th>${canAct ? html`<th></th>` : ''}</tr></thead><tbody>${rows}</tbody></table></section>`;
}

/** The reconciliation runs on a page of their own (auditors read it too; decision 022). */
export function reconcileBody(runs: ReconcileRunView[] | undefined, canAct: boolean): SafeHtml {
  return runs ? reconcileSection(runs, canAct) : html`<h2>Reconciliation</h2><p>Reconciliation is not set up: no configured system documents a listing of its accounts.</p>`;
}

/** One run's findings, each with its next step; an operator's Remediate (drift) and Ignore buttons. */
export function findingsBody(run: ReconcileRunView, findings: FindingView[], options: { canAct: boolean; canRemediate: boolean; kind?: string; next: string | null }): SafeHtml {
  const actions = (finding: FindingView) => {
    if (finding.ignoredBy || finding.eventId) return '';
    const remediate = options.canRemediate && finding.kind === 'drift' && finding.identityId && !(finding.remediation && !finding.remediation.startsWith('would ')) ? postButton(`/ui/reconcile/findings/${finding.id}/remediate`, 'Remediate') : '';
    return html`${remediate}${postButton(`/ui/reconcile/findings/${finding.id}/ignore`, 'Ignore', {}, html`<input type="text" name="reason" placeholder="reason (required)" required maxlength="1000">`)}`;
  };
  const done = (finding: FindingView) =>
    finding.ignoredBy ? html`Ignored by ${finding.ignoredBy} at ${time(finding.ignoredAt)}: ${finding.ignoredReason ?? ''}` : finding.eventId ? html`Leaver event <code>${finding.eventId}</code>` : (finding.remediation ?? '');
  const rows = findings.map(
    (finding) =>
      html`<tr data-finding="${finding.id}" class="finding ${finding.kind}"><td>${finding.id}</td><td>${finding.kind === 'disabled_active' ? 'disabled of active' : finding.kind}</td><td>${finding.accountId}</td><td>${finding.identityId ? html`<a href="/ui/evidence?subject=${encodeURIComponent(finding.identityId)}">${finding.userName ?? finding.identityId}</a>` : 'nobody'}</td><td class="done">${done(finding)}</td><td class="next-step">${finding.nextStep ?? ''}</td>${options.canAct ? html`<td class="actions">${actions(finding)}</td>` : ''}</tr>`,
  );
  const filter = (kind: string | undefined, label: string) => (options.kind === kind ? html`<strong>${label}</strong> ` : html`<a href="/ui/reconcile/runs/${run.id}${kind ? `?kind=${kind}` : ''}">${label}</a> `);
  const more = options.next ? html`<p><a href="/ui/reconcile/runs/${run.id}?${options.kind ? `kind=${options.kind}&` : ''}after=${options.next}">Next page</a></p>` : '';
  return html`<h2>Reconciliation of ${run.system}, ${time(run.startedAt)}</h2>
<p class="run-status">${run.status === 'incomplete' ? html`<strong>incomplete</strong>: ${run.error ?? ''}` : run.status}${run.dryRun ? ' (dry run)' : ''} · by ${run.trigger} · ${String(run.accounts)} accounts, ${String(run.drift)} drift, ${String(run.orphans)} orphans, ${String(run.disabledActive)} disabled of active, ${String(run.remediated)} remediated</p>
<p>Show: ${filter(undefined, 'all')}${filter('drift', 'drift')}${filter('orphan', 'orphans')}${filter('disabled_active', 'disabled of active')}</p>
${findings.length === 0 ? html`<p class="empty">No findings.</p>` : html`<table id="findings-table"><thead><tr><th>#</th><th>Kind</th><th>Account</th><th>Person</th><th>Done</th><th>What to do</th>${options.canAct ? html`<th></th>` : ''}</tr></thead><tbody>${rows}</tbody></table>`}${more}`;
}

function toDoSection(toDo: TargetToDo[]): SafeHtml {
  const rows = toDo.map(
    (target) =>
      html`<tr class="to-do ${target.status}" data-event="${target.eventId}" data-system="${target.system}"><td><a class="person" href="/ui/evidence?subject=${encodeURIComponent(target.identityId)}">${target.userName}</a></td><td>${target.eventKind}</td><td>${target.system}</td><td>${target.action}</td><td class="status">${target.status}</td><td>${time(target.updatedAt)}</td><td class="next-step">${target.nextStep}</td></tr>`,
  );
  return html`<section id="to-do"><h2>To do by hand, last ${TO_DO_DEFAULT_DAYS} days (${toDo.length})</h2>${
    toDo.length === 0
      ? html`<p class="empty" id="to-do-empty">None.</p>`
      : html`<table id="to-do-table"><thead><tr><th>Person</th><th>Event</th><th>System</th><th>Action</th><th>Status</th><th>Since</th><th>What to do</th></tr></thead><tbody>${rows}</tbody></table>`
  }</section>`;
}

export function overviewBody({ held, inFlight, attention, completed, names, canAct, reconcileRuns, idleSweeps, toDo }: OverviewInput): SafeHtml {
  const heldActions = (event: EventView) =>
    html`${event.firstApprovedBy ? html`<p class="approval">Approved by ${event.firstApprovedBy}; needs a different operator</p>` : ''}${postButton(`/ui/events/${event.id}/approve`, 'Approve')}${postButton(`/ui/events/${event.id}/reject`, 'Reject', {}, html`<input type="text" name="reason" placeholder="reason (optional)" maxlength="1000">`)}`;
  const retryActions = (event: EventView) =>
    html`${event.targets
      .filter((target) => target.status === 'needs_attention' || (target.status === 'not_found' && target.lastError))
      .map((target) => postButton(`/ui/events/${event.id}/retry`, `Retry ${target.system}`, { system: target.system }))}${postButton(`/ui/events/${event.id}/retry`, 'Retry all')}`;
  return html`<section id="attention"><h2>Needs attention (${attention.length})</h2>${eventTable('attention', attention, names, canAct ? retryActions : undefined)}</section>
${toDo ? toDoSection(toDo) : ''}${idleSweeps && idleSweeps.length > 0 ? idleSweepSection(idleSweeps, canAct) : ''}<section id="held"><h2>Held by the mass-deprovision guard (${held.length})</h2>${canAct && held.length > 0 ? postButton('/ui/held/approve', `Approve all ${held.length} held`) : ''}${eventTable('held', held, names, canAct ? heldActions : undefined)}</section>
<section id="in-flight"><h2>In flight (${inFlight.length})</h2>${eventTable('in-flight', inFlight, names)}</section>
<section id="completed"><h2>Recently completed</h2>${eventTable('completed', completed, names)}</section>${reconcileRuns ? reconcileSection(reconcileRuns, canAct) : ''}`;
}

const duration = (ms: number | null) => (ms === null ? '–' : formatDuration(ms));

export function reportBody(report: DeprovisioningReport, window: { from?: string; to?: string }, error?: string): SafeHtml {
  const leavers = report.leavers.filter((leaver) => leaver.overSla || leaver.open);
  return html`<h2>Time to deprovision</h2>
<form class="window" method="get" action="/ui/report"><label>From <input type="text" name="from" value="${window.from ?? ''}" placeholder="${report.from.toISOString()}"></label><label>To <input type="text" name="to" value="${window.to ?? ''}" placeholder="${report.to.toISOString()}"></label><button type="submit">Show</button></form>
${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}
<p>Leavers due ${time(report.from)} to ${time(report.to)}, as of ${time(report.asOf)}; SLA <strong>${formatDuration(report.slaMs)}</strong>. <a href="/ui/report.csv?from=${encodeURIComponent(report.from.toISOString())}&amp;to=${encodeURIComponent(report.to.toISOString())}">CSV</a></p>
<figure>${slaChart(report.systems, report.slaMs)}</figure>
<table id="report-systems"><thead><tr><th>System</th><th>Confirmed</th><th>Not found</th><th>Open</th><th>Over SLA</th><th>p50 to accepted</th><th>p95 to accepted</th><th>Max to accepted</th><th>Verified</th><th>p50 to verified</th><th>p95 to verified</th></tr></thead><tbody>${report.systems.map(
    (system) => html`<tr data-system="${system.system}"><td>${system.system}</td><td>${system.confirmed}</td><td>${system.notFound}</td><td>${system.open}</td><td class="${system.overSla > 0 ? 'over' : ''}">${system.overSla}</td><td>${duration(system.p50Ms)}</td><td>${duration(system.p95Ms)}</td><td>${duration(system.maxMs)}</td><td>${system.verified}</td><td>${duration(system.p50VerifiedMs)}</td><td>${duration(system.p95VerifiedMs)}</td></tr>`,
  )}</tbody></table>
<h3>Over the SLA or still open (${leavers.length})</h3>${leavers.length === 0 ? html`<p class="empty">None.</p>` : html`<table id="report-leavers"><thead><tr><th>Person</th><th>Due</th><th>Status</th><th>Duration</th><th>Systems</th></tr></thead><tbody>${leavers.map(
    (leaver) => html`<tr><td><a href="/ui/evidence?subject=${encodeURIComponent(leaver.identityId)}">${leaver.userName}</a></td><td>${time(leaver.dueAt)}</td><td>${leaver.eventStatus}${leaver.open ? ' (open)' : ''}</td><td>${duration(leaver.durationMs)}</td><td>${leaver.systems.map((system) => html`<span class="chip ${system.outcome}${system.overSla ? ' over' : ''}">${system.system}: ${system.outcome === 'confirmed' ? duration(system.durationMs) : system.outcome}</span> `)}</td></tr>`,
  )}</tbody></table>`}`;
}

/** Terminate now (src/hr/terminate.ts): the reason is required and goes to the audit trail. */
const terminateForm = (identityId: string) =>
  postButton(`/ui/identities/${identityId}/terminate`, 'Terminate now', {}, html`<input type="text" name="reason" placeholder="reason (required)" required maxlength="1000">`);

export function evidenceBody(subject: string, report?: EvidenceReport, error?: string, options: { canTerminate?: boolean; canBundle?: boolean } = {}): SafeHtml {
  const search = html`<h2>Evidence for one person</h2><form class="search" method="get" action="/ui/evidence"><label>userName or id <input type="search" name="subject" value="${subject}" required maxlength="300"></label><button type="submit">Show</button></form>`;
  if (error) return html`${search}<p class="flash error" role="alert">${error}</p>`;
  if (!report) return search;
  const people = report.people.map((entry) => {
    const { identity } = entry;
    return html`<article class="evidence" data-identity="${identity.id}"><h3 class="user-name">${identity.userName}</h3>
<dl><dt>id</dt><dd>${identity.id}</dd><dt>externalId</dt><dd>${identity.externalId ?? '–'}</dd><dt>name</dt><dd>${identity.displayName ?? '–'}</dd><dt>email</dt><dd>${identity.email ?? '–'}</dd><dt>active</dt><dd>${String(identity.active)}${identity.deletedAt ? html` (deleted over SCIM at ${time(identity.deletedAt)})` : ''}</dd><dt>termination</dt><dd>${identity.terminationDate ?? '–'}</dd></dl>
${options.canTerminate && identity.active && !identity.deletedAt ? html`<div class="terminate">${terminateForm(identity.id)}</div>` : ''}
<h4>Lifecycle events (${entry.events.length})</h4>${entry.events.map(
      (event) => html`<section class="event" data-event="${event.id}"><p><strong>${event.kind}</strong> <span class="event-status">${event.status}</span> · recorded ${time(event.createdAt)} from ${event.actor} · effective ${time(event.effectiveAt)} · completed ${time(event.completedAt)}</p>${event.massRelease ? html`<p class="mass-release">${massReleaseText(event.massRelease)}</p>` : ''}
<table class="outcomes"><thead><tr><th>System</th><th>Action</th><th>Outcome</th><th>Confirmed</th><th>Proof</th><th>Attempts</th><th>Account</th><th>Last error</th></tr></thead><tbody>${event.targets.map(
        (target) => html`<tr data-system="${target.system}"><td>${target.system}</td><td>${target.action}</td><td class="outcome ${target.status}">${target.status}</td><td>${time(target.confirmedAt)}</td><td class="proof">${target.proof}</td><td>${target.attempts}</td><td>${target.accountId ?? '–'}</td><td class="error">${target.lastError ?? ''}</td></tr>`,
      )}</tbody></table></section>`,
    )}
<h4>Audit rows (${entry.audit.length})</h4><table class="audit"><thead><tr><th>#</th><th>When</th><th>Actor</th><th>Action</th><th>System</th></tr></thead><tbody>${entry.audit.map(
      (row) => html`<tr><td>${row.seq ?? 'pending'}</td><td>${time(row.occurredAt)}</td><td>${row.actor}</td><td>${row.action}</td><td>${row.system ?? ''}</td></tr>`,
    )}</tbody></table>
<p class="verify ${entry.rows.failed.length === 0 ? 'ok' : 'broken'}">${entry.rows.failed.length === 0 ? `These ${entry.rows.checked} rows verify against the hash chain.` : `${entry.rows.failed.length} of these ${entry.rows.checked} rows FAIL verification.`}</p>${entry.rows.failed.length > 0 ? html`<ul>${entry.rows.failed.map((check) => html`<li>${check.seq === null ? `id ${check.id}` : `#${check.seq}`}: ${check.problem}</li>`)}</ul>` : ''}</article>`;
  });
  const chain = chainSummary(report.chain);
  // A signed bundle an auditor verifies offline (docs/decisions/036-evidence-bundles.md).
  const bundle = options.canBundle ? html`<p class="bundle"><a href="/ui/evidence/bundle?subject=${encodeURIComponent(subject)}" download>Download signed evidence bundle (ZIP)</a> · check it with <code>npx jml verify-bundle &lt;file&gt; --key '&lt;verifier key&gt;'</code></p>` : '';
  return html`${search}${people}<p class="chain ${chain.ok ? 'ok' : 'broken'}">${chain.text}</p>${bundle}`;
}

const shown = (value: unknown) => (value === null || value === undefined ? '–' : value instanceof Date ? value.toISOString() : typeof value === 'string' ? value : JSON.stringify(value));

/** The HR CSV import (src/hr/import.ts): the upload form, then what the file changes or why it cannot. */
export function hrImportBody(report?: ImportReport, error?: string): SafeHtml {
  const upload = html`<h2>HR import</h2><form class="upload" method="post" action="/ui/hr/import" enctype="multipart/form-data"><label>CSV export <input type="file" name="csv" accept=".csv,text/csv" required></label><label>Mapping (JSON) <input type="file" name="mapping" accept=".json,application/json" required></label><button type="submit" name="mode" value="dry-run">Dry run</button><button type="submit" name="mode" value="apply">Apply</button></form><p class="hint">A dry run shows what would change and applies nothing. A row that cannot be applied refuses the whole file. The same file applied twice changes nothing.</p>`;
  if (error) return html`${upload}<p class="flash error" role="alert">${error}</p>`;
  if (!report) return upload;
  const summary = html`<p class="import-summary">${report.file.name}: ${report.file.rows} rows, ${report.changes.length} ${report.dryRun ? 'would change' : 'to change'}, ${report.unchanged} unchanged.${report.dryRun ? ' Dry run: nothing was applied.' : html` Applied <strong class="applied">${report.applied}</strong>.`}</p>`;
  if (report.errors.length > 0) {
    return html`${upload}<p class="flash error" role="alert">${report.errors.length} row${report.errors.length === 1 ? '' : 's'} cannot be applied, so nothing was applied.</p><table id="import-errors"><thead><tr><th>Line</th><th>Reason</th></tr></thead><tbody>${report.errors.map((row) => html`<tr><td>${row.line}</td><td>${row.reason}</td></tr>`)}</tbody></table>`;
  }
  const failed = report.failed.length === 0 ? '' : html`<table id="import-failed"><thead><tr><th>Line</th><th>Failed</th></tr></thead><tbody>${report.failed.map((row) => html`<tr><td>${row.line}</td><td>${row.reason}</td></tr>`)}</tbody></table>`;
  return html`${upload}${summary}${failed}<table id="import-changes"><thead><tr><th>Line</th><th>Person</th><th>Change</th><th>Attributes</th></tr></thead><tbody>${report.changes.map(
    (change) => html`<tr data-identity="${change.identityId}"><td>${change.line}</td><td><a href="/ui/evidence?subject=${encodeURIComponent(change.identityId)}">${change.userName}</a></td><td class="kind">${rowChangeSummary(change)}</td><td>${Object.entries(change.changes).map(([key, { from, to }]) => html`<span class="chip">${key}: ${shown(from)} → ${shown(to)}</span> `)}</td></tr>`,
  )}</tbody></table>`;
}

export interface AdminInput {
  /** Absent when the viewer may not manage tokens. */
  tokens?: TokenView[];
  /** Absent when the viewer may not read settings. */
  settings?: Record<string, PublicSetting>;
  /** A token just created: its secret, shown on this page once. */
  created?: TokenView & { token: string };
  error?: string;
}

const settingValue = (value: PublicSetting) =>
  value === null ? '–' : typeof value === 'object' && !Array.isArray(value) ? (value.set ? 'set (secret, not shown)' : 'not set') : Array.isArray(value) ? value.join(', ') : String(value);

/** Tokens and settings (src/auth/administration.ts): an admin's page, with the same powers as the API's. */
export function adminBody({ tokens, settings, created, error }: AdminInput): SafeHtml {
  const shownOnce = created
    ? html`<section id="created-token"><h2>New ${created.kind} token "${created.name}"</h2><p>Copy it now: this is the only time it is shown; only its SHA-256 is stored.</p><p><code class="secret">${created.token}</code></p></section>`
    : '';
  const roles = TOKEN_KINDS.map((kind) => html`<option value="${kind}">${kind}</option>`);
  const profiles = CLIENT_PROFILES.map((profile) => html`<option value="${profile}">${profile}</option>`);
  const tokenSection = tokens
    ? html`<section id="tokens"><h2>Tokens (${tokens.length})</h2><form class="create-token" method="post" action="/ui/admin/tokens"><label>Name <input type="text" name="name" required maxlength="100"></label><label>Role <select name="role">${roles}</select></label><label>Profile (scim only) <select name="profile"><option value="">–</option>${profiles}</select></label><button type="submit">Create token</button></form><table id="tokens-table"><thead><tr><th>Name</th><th>Role</th><th>Prefix</th><th>Profile</th><th>Created</th><th>Last used</th><th>State</th><th></th></tr></thead><tbody>${tokens.map(
        (token) =>
          html`<tr data-token="${token.id}"><td>${token.name}</td><td>${token.kind}</td><td><code>${token.prefix}…</code></td><td>${token.profile ?? ''}</td><td>${time(token.createdAt)}</td><td>${time(token.lastUsedAt)}</td><td class="token-state">${token.revokedAt ? html`revoked ${time(token.revokedAt)}` : 'active'}</td><td class="actions">${token.revokedAt ? '' : postButton(`/ui/admin/tokens/${token.id}/revoke`, 'Revoke')}</td></tr>`,
      )}</tbody></table></section>`
    : '';
  const settingsSection = settings
    ? html`<section id="settings"><h2>Settings</h2><p>The effective values this process runs with, defaults included; secrets say only whether they are set. They change in the environment and take effect at the next start.</p><table id="settings-table"><tbody>${Object.entries(settings).map(([name, value]) => html`<tr><th>${name}</th><td>${settingValue(value)}</td></tr>`)}</tbody></table></section>`
    : '';
  return html`${error ? html`<p class="flash error" role="alert">${error}</p>` : ''}${shownOnce}${tokenSection}${settingsSection}`;
}

export function messagePage(title: string, text: string, session?: Session): string {
  return layout({ title, session, body: html`<h2>${title}</h2><p>${text}</p>` });
}
