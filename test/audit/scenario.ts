// A scripted leaver through a whole jml, shared by the export and evidence tests: Ada is
// provisioned over SCIM with an account in each simulated system, then deactivated, and her
// leaver workflow runs to the end.
import { expect } from 'vitest';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import type { TestSystem } from '../support/system.js';

export interface Scenario {
  identityId: string;
  joinerId: string;
  leaverId: string;
}

export async function adaLeaves(jml: TestSystem): Promise<Scenario> {
  const userName = 'ada';
  jml.simulators.simulators.seedFromIdentity({ userName, email: 'ada@example.com', externalId: 'emp-ada' });
  const created = await jml.scim.post('/Users', {
    schemas: [CORE_USER],
    userName,
    externalId: 'emp-ada',
    displayName: 'Ada Lovelace',
    active: true,
    emails: [{ value: 'ada@example.com', type: 'work', primary: true }],
  });
  expect(created.status).toBe(201);
  const deactivated = await jml.scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  expect(deactivated.status).toBe(200);
  const events = await jml.database.query<{ id: string; kind: string; workflow_id: string }>(
    'SELECT id, kind, workflow_id FROM lifecycle_event WHERE identity_id = $1 ORDER BY created_at',
    [created.body.id],
  );
  const joiner = events.find((event) => event.kind === 'joiner')!;
  const leaver = events.find((event) => event.kind === 'leaver')!;
  const outcomes = await jml.resultOf(leaver.workflow_id);
  // Mendix documents no read: accepted only. The others were read back.
  expect(outcomes.map((outcome) => `${outcome.system}:${outcome.status}`).sort()).toEqual(['mendix:succeeded', 'rocketchat:verified', 'userapi:verified']);
  return { identityId: created.body.id, joinerId: joiner.id, leaverId: leaver.id };
}

export interface ActionLine {
  actor: string;
  action: string;
  system: string | null;
  event: 'joiner' | 'leaver' | null;
}

/**
 * The scenario's rows as (actor, action, system, which event). The three systems are disabled in
 * parallel, so their rows land in any order: each run of consecutive target rows is sorted by system.
 */
export function actionLines(scenario: Scenario, rows: { actor: string; action: string; system: string | null; eventId: string | null }[]): ActionLine[] {
  const lines = rows.map(
    (row): ActionLine => ({
      actor: row.actor,
      action: row.action,
      system: row.system,
      event: row.eventId === scenario.joinerId ? 'joiner' : row.eventId === scenario.leaverId ? 'leaver' : row.eventId === null ? null : (row.eventId as never),
    }),
  );
  const sorted: ActionLine[] = [];
  for (let index = 0; index < lines.length; ) {
    let end = index;
    while (end < lines.length && lines[end]!.action.startsWith('target.')) end += 1;
    if (end === index) {
      sorted.push(lines[index]!);
      index += 1;
    } else {
      sorted.push(...lines.slice(index, end).sort((a, b) => (a.system ?? '').localeCompare(b.system ?? '')));
      index = end;
    }
  }
  return sorted;
}
