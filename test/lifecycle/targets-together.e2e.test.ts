// Decision 067 through the real Temporal server: a leaver's targets in systems without a rate
// limit are acted on in one activity on the workflow's queue, and a system with a rate limit keeps
// an activity of its own on its queue, where the server enforces the limit (decision 005). The
// history says which activities ran where; the simulators say each account was deactivated once.
// A system that fails for a while (503s) is retried inside the shared activity without acting
// again on the systems it had already settled, and one that refuses for good (403) needs
// attention while the others are verified.
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATCH_OP } from '../support/scim-client.js';
import { provisionPerson, startTestSystem, type TestSystem } from '../support/system.js';

const EventType = temporal.api.enums.v1.EventType;

/** The task queue of every activity the workflow scheduled, in order. */
async function activityQueues(jml: TestSystem, workflowId: string): Promise<string[]> {
  const history = await jml.system.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .filter((event) => event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    .map((event) => event.activityTaskScheduledEventAttributes?.taskQueue?.name ?? '');
}

async function leave(jml: TestSystem, person: { id: string }): Promise<{ id: string; workflowId: string }> {
  const patched = await jml.scim.patch(`/Users/${person.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  expect(patched.status).toBe(200);
  const [event] = await jml.database.query<{ id: string; workflow_id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [person.id]);
  return { id: event!.id, workflowId: event!.workflow_id };
}

const targetStatuses = async (jml: TestSystem, eventId: string) =>
  Object.fromEntries(
    (await jml.database.query<{ system: string; status: string }>(`SELECT system, status FROM target_action WHERE event_id = $1`, [eventId])).map((row) => [row.system, row.status]),
  );

describe('targets in systems without a rate limit, acted on together', () => {
  let jml: TestSystem;
  beforeAll(async () => {
    jml = await startTestSystem({ env: { JML_RETRY_INITIAL_MS: '200', JML_RETRY_MAX_INTERVAL_MS: '400' } });
  });
  afterAll(async () => {
    await jml.close();
  });

  it('acts on all three systems in one activity on the workflow queue, once each', async () => {
    const person = await provisionPerson(jml, 'together', 1);
    const { id, workflowId } = await leave(jml, person);
    const outcomes = await jml.resultOf(workflowId);
    expect(outcomes.map((outcome) => `${outcome.system} ${outcome.status}`).sort()).toEqual(['mendix succeeded', 'rocketchat verified', 'userapi verified']);
    expect(await activityQueues(jml, workflowId)).toEqual([jml.taskQueue]);
    const { simulators } = jml.simulators;
    expect(simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.setActiveStatus' && call.status === 200)).toHaveLength(1);
    expect(simulators.mendix.calls().filter((call) => call.method === 'PATCH' && call.status === 204)).toHaveLength(1);
    expect(simulators.userapi.calls().filter((call) => call.path === `/v1/users/${person.externalId}/deactivate` && call.status === 204)).toHaveLength(1);
    const [event] = await jml.database.query<{ status: string }>(`SELECT status FROM lifecycle_event WHERE id = $1`, [id]);
    expect(event!.status).toBe('completed');
  });

  it('retries a system that fails for a while without acting again on the others', async () => {
    const person = await provisionPerson(jml, 'together', 2);
    const { simulators } = jml.simulators;
    simulators.userapi.setFaults({ statusByAccount: { [person.externalId]: 503 } });
    const { id, workflowId } = await leave(jml, person);
    const failed = () => simulators.userapi.calls().filter((call) => call.path === `/v1/users/${person.externalId}/deactivate` && call.status === 503).length;
    for (let waited = 0; failed() < 2 && waited < 20_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(failed()).toBeGreaterThanOrEqual(2);
    simulators.userapi.setFaults({});
    await jml.resultOf(workflowId);
    expect(await targetStatuses(jml, id)).toEqual({ rocketchat: 'verified', mendix: 'succeeded', userapi: 'verified' });
    // Rocket.Chat and Mendix were settled in the first attempt: no attempt after it called them again.
    const chatUser = simulators.rocketchat.users().find((user) => user.username === person.userName)!;
    const mendixUser = simulators.mendix.users().find((user) => user.email === person.email)!;
    expect(simulators.rocketchat.calls().filter((call) => call.path === '/api/v1/users.setActiveStatus' && (call.body as { userId?: string }).userId === chatUser._id)).toHaveLength(1);
    expect(simulators.mendix.calls().filter((call) => call.method === 'PATCH' && call.path === `/v1/platform-users/${mendixUser.uuid}`)).toHaveLength(1);
    expect(await activityQueues(jml, workflowId)).toEqual([jml.taskQueue]);
  });

  it('makes a system that refuses for good need attention while the others are verified', async () => {
    const person = await provisionPerson(jml, 'together', 3);
    const { simulators } = jml.simulators;
    simulators.mendix.setFaults({ statusByAccount: { [person.email]: 403 } });
    const { id, workflowId } = await leave(jml, person);
    await jml.resultOf(workflowId);
    simulators.mendix.setFaults({});
    expect(await targetStatuses(jml, id)).toEqual({ rocketchat: 'verified', mendix: 'needs_attention', userapi: 'verified' });
    const [event] = await jml.database.query<{ status: string }>(`SELECT status FROM lifecycle_event WHERE id = $1`, [id]);
    expect(event!.status).toBe('needs_attention');
  });
});

describe('a system with a rate limit beside two without', () => {
  let jml: TestSystem;
  beforeAll(async () => {
    jml = await startTestSystem({ env: { JML_RATE_LIMIT_ROCKETCHAT: '50' } });
  });
  afterAll(async () => {
    await jml.close();
  });

  it('keeps the rate-limited system on its own queue and acts on the other two together', async () => {
    const person = await provisionPerson(jml, 'limited', 1);
    const { workflowId } = await leave(jml, person);
    const outcomes = await jml.resultOf(workflowId);
    expect(outcomes.map((outcome) => `${outcome.system} ${outcome.status}`).sort()).toEqual(['mendix succeeded', 'rocketchat verified', 'userapi verified']);
    expect((await activityQueues(jml, workflowId)).sort()).toEqual([jml.taskQueue, `${jml.taskQueue}-rocketchat`].sort());
  });
});
