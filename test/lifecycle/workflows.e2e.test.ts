// Issue 5's behaviours against the real Temporal server, the real PostgreSQL and the simulators:
// partial outages, permanent refusals, effective dates, rehires, movers and repeated requests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATCH_OP } from '../support/scim-client.js';
import { provisionPerson, startTestSystem, type TestSystem } from '../support/system.js';

/** Done downstream: accepted (Mendix, which documents no read) or accepted and read back. */
const DONE = ['succeeded', 'verified'];

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';

let jml: TestSystem;
let counter = 0;
let policyDir: string;

beforeAll(async () => {
  policyDir = mkdtempSync(path.join(tmpdir(), 'jml-policy-'));
  const policyFile = path.join(policyDir, 'policy.json');
  // Mendix only for Engineering; the others for everyone.
  writeFileSync(policyFile, JSON.stringify({ version: 1, systems: { mendix: { entitled: { attribute: 'department', in: ['Engineering'] } } } }));
  jml = await startTestSystem({
    // The guard has tests of its own; here every leaver should pass it.
    env: { JML_RETRY_INITIAL_MS: '100', JML_RETRY_MAX_INTERVAL_MS: '400', JML_POLICY_FILE: policyFile, JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' },
  });
});

afterAll(async () => {
  await jml.close();
  rmSync(policyDir, { recursive: true, force: true });
});

/** A person with accounts in all three systems, provisioned over SCIM. */
async function provision(extra: Record<string, unknown> = {}) {
  counter++;
  return provisionPerson(jml, 'person', counter, extra);
}

const deactivate = (id: string) => jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });

async function latestEvent(identityId: string, kind: string) {
  const [event] = await jml.database.query<{ id: string; workflow_id: string; status: string }>(
    'SELECT id, workflow_id, status FROM lifecycle_event WHERE identity_id = $1 AND kind = $2 ORDER BY created_at DESC LIMIT 1', [identityId, kind]);
  return event!;
}

async function eventStatus(eventId: string): Promise<string> {
  const [row] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [eventId]);
  return row!.status;
}

async function waitForStatus(eventId: string, wanted: string[]): Promise<string> {
  for (let waited = 0; waited < 20_000; waited += 100) {
    const status = await eventStatus(eventId);
    if (wanted.includes(status)) return status;
    await sleep(100);
  }
  return eventStatus(eventId);
}

const calls = (system: 'rocketchat' | 'mendix' | 'userapi', match: (call: { method: string; path: string; status: number }) => boolean) =>
  jml.simulators.simulators[system].calls().filter(match);

describe('lifecycle workflows', () => {
  it('retries a system that is down for a while, and finishes when it recovers', async () => {
    const person = await provision();
    // The outage ends once jml has met it, not after a fixed window: on a loaded machine a
    // 1.5 s window could pass before the workflow's first call, and nothing was retried.
    jml.simulators.simulators.userapi.setFaults({ outageUntil: Date.now() + 10 * 60_000 });
    const refusedCalls = () => calls('userapi', (call) => call.path === `/v1/users/${person.externalId}/deactivate` && call.status === 503);
    expect((await deactivate(person.id)).status).toBe(200);
    const event = await latestEvent(person.id, 'leaver');
    for (let waited = 0; refusedCalls().length === 0 && waited < 30_000; waited += 100) await sleep(100);
    jml.simulators.simulators.userapi.setFaults({});
    const outcomes = await jml.resultOf(event.workflow_id);
    expect(outcomes.map(({ system, status }) => [system, status]).sort()).toEqual([['mendix', 'succeeded'], ['rocketchat', 'verified'], ['userapi', 'verified']]);
    const refused = refusedCalls();
    expect(refused.length).toBeGreaterThan(0);
    const [target] = await jml.database.query<{ attempts: number }>(`SELECT attempts FROM target_action WHERE event_id = $1 AND system = 'userapi'`, [event.id]);
    expect(target!.attempts).toBe(refused.length + 1);
    const failures = await jml.database.query(`SELECT 1 FROM audit_event WHERE event_id = $1 AND action = 'target.deactivate.attempt_failed' AND system = 'userapi'`, [event.id]);
    expect(failures.length).toBe(refused.length);
    jml.simulators.simulators.userapi.setFaults({});
  });

  it('marks a permanent 403 as needing attention at once, with the vendor message, while the others succeed', async () => {
    const person = await provision();
    jml.simulators.simulators.mendix.setFaults({ statusByAccount: { [person.email]: 403 } });
    await deactivate(person.id);
    const event = await latestEvent(person.id, 'leaver');
    const outcomes = await jml.resultOf(event.workflow_id);
    expect(Object.fromEntries(outcomes.map(({ system, status }) => [system, status]))).toEqual({ rocketchat: 'verified', mendix: 'needs_attention', userapi: 'verified' });
    const [mendix] = await jml.database.query<{ status: string; attempts: number; last_error: string }>(
      `SELECT status, attempts, last_error FROM target_action WHERE event_id = $1 AND system = 'mendix'`, [event.id]);
    expect(mendix).toMatchObject({ status: 'needs_attention', attempts: 1 });
    expect(mendix!.last_error).toMatch(/PermanentDownstreamError: Mendix refused/);
    expect(await eventStatus(event.id)).toBe('needs_attention');
    jml.simulators.simulators.mendix.setFaults({});
  });

  it('waits for a future termination date, then deactivates', async () => {
    const person = await provision();
    const date = new Date(Date.now() + 2000).toISOString();
    const scheduled = await jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${LIFECYCLE}:terminationDate`, value: date }] });
    expect(scheduled.status).toBe(200);
    expect(scheduled.body.active).toBe(true);
    const event = await latestEvent(person.id, 'leaver');
    expect(await waitForStatus(event.id, ['waiting'])).toBe('waiting');
    const before = jml.simulators.simulators.userapi.users().find((user) => user.id === person.externalId);
    expect(before?.active).toBe(true);
    const outcomes = await jml.resultOf(event.workflow_id);
    expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === person.externalId)?.active).toBe(false);
    const audit = await jml.database.query<{ action: string; data: { until?: string } }>(`SELECT action, data FROM audit_event WHERE event_id = $1 ORDER BY id`, [event.id]);
    expect(audit.find((row) => row.action === 'workflow.waiting')?.data.until).toBe(date);
  });

  it('cancels a future-dated leaver when the termination date is withdrawn, sending nothing downstream', async () => {
    const person = await provision({ [LIFECYCLE]: { terminationDate: new Date(Date.now() + 60_000).toISOString() } });
    const event = await latestEvent(person.id, 'leaver');
    expect(await waitForStatus(event.id, ['waiting'])).toBe('waiting');
    // It waits for its date without a workflow: its start row is kept, marked (decision 023).
    await expect(jml.system.client.workflow.getHandle(event.workflow_id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const [start] = await jml.database.query<{ signal: string | null; dispatched: boolean }>(
      `SELECT signal, dispatched_at IS NOT NULL AS dispatched FROM outbox WHERE kind = 'start' AND workflow_id = $1`, [event.workflow_id]);
    expect(start).toEqual({ signal: 'waiting', dispatched: false });
    const withdrawn = await jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `${LIFECYCLE}:terminationDate` }] });
    expect(withdrawn.status).toBe(200);
    const outcomes = await jml.resultOf(event.workflow_id);
    expect(outcomes.every((outcome) => outcome.status === 'cancelled')).toBe(true);
    expect(await eventStatus(event.id)).toBe('cancelled');
    expect(calls('userapi', (call) => call.path === `/v1/users/${person.externalId}/deactivate`)).toHaveLength(0);
    expect(jml.simulators.simulators.rocketchat.users().find((user) => user.username === person.userName)?.active).toBe(true);
  });

  it('reschedules a future-dated leaver to now when the identity provider deactivates the person early', async () => {
    const person = await provision({ [LIFECYCLE]: { terminationDate: new Date(Date.now() + 60_000).toISOString() } });
    const event = await latestEvent(person.id, 'leaver');
    expect(await waitForStatus(event.id, ['waiting'])).toBe('waiting');
    await deactivate(person.id);
    const outcomes = await jml.resultOf(event.workflow_id);
    expect(outcomes.every((outcome) => DONE.includes(outcome.status))).toBe(true);
    const leavers = await jml.database.query(`SELECT id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [person.id]);
    expect(leavers).toHaveLength(1);
    expect(calls('userapi', (call) => call.path === `/v1/users/${person.externalId}/deactivate` && call.status === 204)).toHaveLength(1);
  });

  it('deactivates a mover only where they lost an entitlement', async () => {
    const person = await provision();
    const moved = await jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: `${ENTERPRISE}:department`, value: 'Sales' }] });
    expect(moved.status).toBe(200);
    const event = await latestEvent(person.id, 'mover');
    const outcomes = await jml.resultOf(event.workflow_id);
    expect(outcomes).toEqual([{ system: 'mendix', action: 'deactivate', status: 'succeeded' }]);
    expect(jml.simulators.simulators.mendix.users().find((user) => user.email === person.email)?.active).toBe(false);
    expect(jml.simulators.simulators.rocketchat.users().find((user) => user.username === person.userName)?.active).toBe(true);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === person.externalId)?.active).toBe(true);
  });

  it('sends one set of downstream calls when the same deactivation is delivered twice at once', async () => {
    const person = await provision();
    const [first, second] = await Promise.all([deactivate(person.id), deactivate(person.id)]);
    expect([first.status, second.status].sort()).toEqual([200, 204]);
    const event = await latestEvent(person.id, 'leaver');
    await jml.resultOf(event.workflow_id);
    const leavers = await jml.database.query(`SELECT id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [person.id]);
    expect(leavers).toHaveLength(1);
    expect(calls('userapi', (call) => call.path === `/v1/users/${person.externalId}/deactivate`)).toHaveLength(1);
    expect(calls('mendix', (call) => call.method === 'PATCH' && call.path.startsWith('/v1/platform-users/'))
      .filter((call) => jml.simulators.simulators.mendix.users().some((user) => user.email === person.email && call.path.endsWith(user.uuid)))).toHaveLength(1);
  });
});
