// Issue 14's first scenario, through SCIM, PostgreSQL, the real Temporal server and the
// simulators: USERAPI_ID_ATTRIBUTE points at an attribute the user API does not use as its id,
// so the API answers its documented 404 "no such user". That must never be recorded as a
// deactivation: the target is `not_found` in the database, the evidence and the report, and a
// burst of them needs attention with a message naming the setting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvidence } from '../../src/audit/evidence.js';
import { deprovisioningReport, reportCsv } from '../../src/audit/report.js';
import { createToken } from '../../src/auth/tokens.js';
import { connectorsCommand } from '../../src/cli/connectors.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

let jml: TestSystem;

beforeAll(async () => {
  jml = await startTestSystem({
    // The mistake of the issue: the user API knows people by externalId, jml sends employeeNumber.
    connectorEnv: { USERAPI_ID_ATTRIBUTE: 'employeeNumber' },
    env: { JML_NOT_FOUND_BURST: '2', JML_GUARD_ENABLED: 'false' },
  });
});

afterAll(async () => {
  await jml.close();
});

async function createPerson(userName: string, externalId: string, seeded: boolean): Promise<string> {
  if (seeded) jml.simulators.simulators.seedFromIdentity({ userName, email: `${userName}@example.com`, externalId });
  const created = await jml.scim.post('/Users', {
    schemas: [CORE_USER, ENTERPRISE],
    userName,
    externalId,
    active: true,
    emails: [{ value: `${userName}@example.com`, type: 'work', primary: true }],
    [ENTERPRISE]: { employeeNumber: `E-${externalId}` },
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

async function leave(id: string): Promise<{ eventId: string; outcomes: { system: string; status: string }[] }> {
  const response = await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  expect(response.status).toBe(200);
  const [event] = await jml.database.query<{ id: string; workflow_id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE identity_id = $1 AND kind = 'leaver'`, [id]);
  return { eventId: event!.id, outcomes: await jml.resultOf(event!.workflow_id) };
}

async function targetsOf(eventId: string) {
  return jml.database.query<{ system: string; status: string; confirmed_at: Date | null; last_error: string | null }>(
    'SELECT system, status, confirmed_at, last_error FROM target_action WHERE event_id = $1 ORDER BY system',
    [eventId],
  );
}

describe('a user API that knows no such user (USERAPI_ID_ATTRIBUTE pointing at the wrong attribute)', () => {
  it('records not_found, never deactivated, and leaves the account active', async () => {
    const id = await createPerson('turing', 'emp-1912', true);
    const { eventId, outcomes } = await leave(id);
    expect(outcomes).toEqual(expect.arrayContaining([{ system: 'userapi', action: 'deactivate', status: 'not_found' }]));
    expect(outcomes.find((outcome) => outcome.system === 'userapi')?.status).not.toBe('succeeded');

    // The API was asked about E-emp-1912, answered 404, and its real user is untouched.
    const calls = jml.simulators.simulators.userapi.calls().filter((call) => call.path === '/v1/users/E-emp-1912/deactivate');
    expect(calls.map((call) => call.status)).toEqual([404]);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === 'emp-1912')?.active).toBe(true);

    const userapi = (await targetsOf(eventId)).find((target) => target.system === 'userapi')!;
    expect(userapi.status).toBe('not_found');
    expect(userapi.confirmed_at).toBeNull();
    // One not-found is not yet a burst: recorded, no attention asked.
    expect(userapi.last_error).toBeNull();
    const audit = await jml.database.query<{ action: string; data: { lookup: string; message: string } }>(
      `SELECT action, data FROM audit_event WHERE event_id = $1 AND system = 'userapi' ORDER BY id`,
      [eventId],
    );
    expect(audit.map((row) => row.action)).toEqual(['target.deactivate.not_found']);
    expect(audit[0]!.data.lookup).toBe('USERAPI_ID_ATTRIBUTE=employeeNumber');
    // No link to an account that does not exist survives for a retry to reuse.
    expect(await jml.database.query(`SELECT 1 FROM account_link WHERE identity_id = $1 AND system = 'userapi'`, [id])).toHaveLength(0);

    // Evidence says not_found, with no confirmation time.
    const evidence = await buildEvidence(jml.system.db, 'turing');
    const target = evidence.people[0]!.events.find((event) => event.id === eventId)!.targets.find((entry) => entry.system === 'userapi')!;
    expect(target).toMatchObject({ status: 'not_found', confirmedAt: null });
  });

  it('a second not-found from the same system is a burst: the leaver needs attention, and the message names the setting', async () => {
    const id = await createPerson('hamilton', 'emp-1936', true);
    const { eventId } = await leave(id);
    const userapi = (await targetsOf(eventId)).find((target) => target.system === 'userapi')!;
    expect(userapi.status).toBe('not_found');
    expect(userapi.last_error).toMatch(/2 accounts not found in userapi .* check USERAPI_ID_ATTRIBUTE=employeeNumber/);
    const [event] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [eventId]);
    expect(event?.status).toBe('needs_attention');

    // The SLA report counts both as not found for the user API and as confirmed nowhere; the CSV says so too.
    const report = await deprovisioningReport(jml.system.db, { from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000), slaMs: 3_600_000 });
    const summary = report.systems.find((system) => system.system === 'userapi')!;
    expect(summary).toMatchObject({ notFound: 2, confirmed: 0 });
    const csvRows = reportCsv(report).split('\n').filter((line) => line.includes(',userapi,'));
    expect(csvRows).toHaveLength(2);
    expect(csvRows.every((line) => line.includes(',not_found,not_found,'))).toBe(true);
  });

  it('a leaver whom every system answered "no such account" needs attention', async () => {
    // No accounts anywhere: every lookup finds nobody.
    const id = await createPerson('nobody', 'emp-0000', false);
    const { eventId, outcomes } = await leave(id);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['not_found', 'not_found', 'not_found']);
    const targets = await targetsOf(eventId);
    expect(targets.find((target) => target.system === 'rocketchat')?.last_error).toMatch(/Every system answered .* check ROCKETCHAT_LOOKUP=username:userName/);
    expect(targets.find((target) => target.system === 'mendix')?.last_error).toMatch(/check MENDIX_EMAIL_ATTRIBUTE=email/);
    const [event] = await jml.database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [eventId]);
    expect(event?.status).toBe('needs_attention');
  });

  it('the operator page flags them: "To do by hand" with the setting to check, and the evidence says not_found', async () => {
    const base = jml.system.url!;
    const { token } = await createToken(jml.system.db, { name: 'proof-page', kind: 'operator' });
    const login = await fetch(`${base}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ token }).toString(),
    });
    const cookie = login.headers.getSetCookie().find((header) => header.startsWith('jml_ui_session='))!.split(';')[0]!;
    const [hamilton] = await jml.database.query<{ id: string }>(`SELECT e.id FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE i.user_name = 'hamilton' AND e.kind = 'leaver'`);
    const page = await (await fetch(`${base}/ui/`, { headers: { cookie } })).text();
    const row = new RegExp(`<tr class="to-do not_found" data-event="${hamilton!.id}" data-system="userapi">.*?</tr>`).exec(page)?.[0];
    expect(row).toMatch(/<td class="status">not_found<\/td>/);
    expect(row).toContain('Check the lookup setting the error names (npx jml connectors check --user &lt;userName&gt; tries it)');

    const evidence = await (await fetch(`${base}/ui/evidence?subject=turing`, { headers: { cookie } })).text();
    expect(evidence).toMatch(/<tr data-system="userapi"><td>userapi<\/td><td>deactivate<\/td><td class="outcome not_found">not_found<\/td><td>–<\/td>/);
  });

  it('jml connectors check says which lookup finds nobody, without acting', async () => {
    await createPerson('lamarr', 'emp-1914', true);
    const before = jml.simulators.simulators.userapi.calls().length;
    const out: string[] = [];
    const code = await connectorsCommand(
      jml.system.db,
      { action: 'check', user: 'lamarr', env: {}, connectors: jml.connectors },
      { out: (text) => out.push(text), err: (text) => out.push(text) },
    );
    expect(code).toBe(1);
    const text = out.join('');
    expect(text).toMatch(/rocketchat\s+ok\s+found account \w+ \(active\)/);
    expect(text).toMatch(/mendix\s+ok/);
    expect(text).toMatch(/userapi\s+NOT FOUND found NOBODY for lamarr by USERAPI_ID_ATTRIBUTE=employeeNumber \(value "E-emp-1914"\)/);
    // Only reads: one GET, no deactivation, and lamarr still active everywhere.
    const calls = jml.simulators.simulators.userapi.calls().slice(before);
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual(['GET /v1/users/E-emp-1914']);
    expect(jml.simulators.simulators.rocketchat.users().find((user) => user.username === 'lamarr')?.active).toBe(true);
  });
});
