// Dry run: the whole workflow runs, looks each account up (reads only) and the audit says what
// would have been done to which account; no change is sent.
import { afterEach, describe, expect, it } from 'vitest';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

let jml: TestSystem | undefined;

afterEach(async () => {
  await jml?.close();
  jml = undefined;
});

async function leaver(system: TestSystem) {
  system.simulators.simulators.seedFromIdentity({ userName: 'dry', email: 'dry@example.com', externalId: 'ext-dry' });
  const created = await system.scim.post('/Users', { schemas: [CORE_USER], userName: 'dry', externalId: 'ext-dry', emails: [{ value: 'dry@example.com', primary: true }] });
  await system.scim.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
  const [event] = await system.database.query<{ id: string; workflow_id: string }>(`SELECT id, workflow_id FROM lifecycle_event WHERE kind = 'leaver'`);
  const outcomes = await system.resultOf(event!.workflow_id);
  const audit = await system.database.query<{ action: string; system: string; data: { wouldDo?: string; message?: string; accountId?: string } }>(
    `SELECT action, system, data FROM audit_event WHERE event_id = $1 AND action LIKE 'target.%' ORDER BY system`, [event!.id]);
  return { outcomes: Object.fromEntries(outcomes.map(({ system: name, status }) => [name, status])), audit };
}

const sentTo = (system: TestSystem, name: 'rocketchat' | 'mendix' | 'userapi') =>
  system.simulators.simulators[name].calls().filter((call) => call.method !== 'GET' && !call.path.startsWith('/v1/uuids'));

describe('dry run', () => {
  it('for one system: that system is only audited, the others act', async () => {
    jml = await startTestSystem({ env: { JML_DRY_RUN_SYSTEMS: 'mendix' } });
    const { outcomes, audit } = await leaver(jml);
    expect(outcomes).toEqual({ rocketchat: 'verified', mendix: 'dry_run', userapi: 'verified' });
    expect(audit.find((row) => row.system === 'mendix')).toMatchObject({ action: 'target.deactivate.dry_run', data: { wouldDo: 'deactivate' } });
    expect(sentTo(jml, 'mendix')).toHaveLength(0);
    expect(sentTo(jml, 'userapi')).toHaveLength(1);
  });

  it('globally: nothing is sent to any system', async () => {
    jml = await startTestSystem({ env: { JML_DRY_RUN: 'true' } });
    const { outcomes, audit } = await leaver(jml);
    expect(outcomes).toEqual({ rocketchat: 'dry_run', mendix: 'dry_run', userapi: 'dry_run' });
    expect(audit.map((row) => row.action)).toEqual(['target.deactivate.dry_run', 'target.deactivate.dry_run', 'target.deactivate.dry_run']);
    const said = Object.fromEntries(audit.map((row) => [row.system, row.data.message]));
    const chatId = jml.simulators.simulators.rocketchat.users().find((user) => user.username === 'dry')!._id;
    expect(said.rocketchat).toBe(`would deactivate account ${chatId} in rocketchat, now active`);
    expect(said.userapi).toBe('would deactivate account ext-dry in userapi, now active');
    expect(said.mendix).toMatch(/^would deactivate account \S+ in mendix$/);
    // Only look-ups and reads: no change reached any system, and every account is still active.
    for (const name of ['rocketchat', 'mendix', 'userapi'] as const) {
      expect(sentTo(jml, name)).toHaveLength(0);
      expect(jml.simulators.simulators[name].users().every((user) => user.active)).toBe(true);
    }
  });
});
