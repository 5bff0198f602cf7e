// CSV import of HR changes (issue 16, decision 025) against a whole jml: real PostgreSQL, real
// Temporal, simulated systems. Dry run, apply, re-import, refusals with line numbers, the CLI.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, type Principal } from '../../src/auth/tokens.js';
import { hrCommand } from '../../src/cli/hr.js';
import { parseEnvironment } from '../../src/config.js';
import type { SystemName } from '../../src/connectors/types.js';
import { CsvFormatError, importHrChanges } from '../../src/hr/import.js';
import { MappingError, parseMapping, type HrMapping } from '../../src/hr/mapping.js';
import { EVERYONE_EVERYWHERE } from '../../src/lifecycle/policy.js';
import { lifecycleSettingsOf } from '../../src/lifecycle/settings.js';
import type { ScimDependencies } from '../../src/scim/users.js';
import { CORE_USER } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const DONE = ['succeeded', 'verified'];
const principal: Principal = { tokenId: 'cli', name: 'hr-bot', kind: 'operator' };

let jml: TestSystem;
let intake: ScimDependencies;
let dir: string;

const mapping: HrMapping = parseMapping(
  {
    person: { column: 'Work Email', attribute: 'email' },
    columns: { active: 'Status', terminationDate: 'Termination Date', department: 'Department' },
    activeValues: { active: ['Active'], inactive: ['Terminated'] },
  },
  'test',
);

beforeAll(async () => {
  jml = await startTestSystem({ env: { JML_GUARD_MAX_LEAVERS: '1000', JML_GUARD_MIN_LEAVERS: '1000' } });
  const env = parseEnvironment({ TEMPORAL_TASK_QUEUE: jml.taskQueue });
  intake = { db: jml.system.db, lifecycle: lifecycleSettingsOf(env, Object.keys(jml.connectors) as SystemName[], EVERYONE_EVERYWHERE), onOutboxWritten: () => jml.system.relay?.kick() };
  dir = mkdtempSync(path.join(tmpdir(), 'jml-hr-import-'));
});

afterAll(async () => {
  await jml.close();
  rmSync(dir, { recursive: true, force: true });
});

async function provision(prefix: string, count: number) {
  const people: { id: string; userName: string; email: string; externalId: string }[] = [];
  for (let index = 0; index < count; index++) {
    const userName = `${prefix}${index}`;
    const email = `${prefix}${index}@example.com`;
    const externalId = `emp-${prefix}${index}`;
    jml.simulators.simulators.seedFromIdentity({ userName, email, externalId });
    const created = await jml.scim.post('/Users', { schemas: [CORE_USER, ENTERPRISE], userName, externalId, emails: [{ value: email, primary: true }], [ENTERPRISE]: { department: 'Engineering' } });
    expect(created.status).toBe(201);
    people.push({ id: created.body.id, userName, email, externalId });
  }
  return people;
}

const eventsOf = (ids: string[]) =>
  jml.database.query<{ identity_id: string; kind: string; workflow_id: string; effective_at: Date; actor: string }>(
    `SELECT identity_id, kind, workflow_id, effective_at, actor FROM lifecycle_event WHERE identity_id = ANY($1::uuid[]) AND kind <> 'joiner' ORDER BY created_at`, [ids]);
const versionsOf = async (ids: string[]) =>
  (await jml.database.query<{ id: string; version: number }>('SELECT id, version FROM identity WHERE id = ANY($1::uuid[]) ORDER BY id', [ids])).map((row) => `${row.id}:${row.version}`);

describe('jml hr import', () => {
  it('dry run shows exactly what would change; apply changes it once; the same file again changes nothing', async () => {
    const [leaver, future, mover, same, upper] = await provision('csv-a', 5);
    const ids = [leaver!.id, future!.id, mover!.id, same!.id, upper!.id];
    const date = '2099-03-31';
    // CRLF, a byte-order mark, a quoted cell with a comma, padded cells and an email in other case.
    const csv = `\uFEFFWork Email,Status,Termination Date,Department,Note\r\n${leaver!.email},Terminated,,Engineering,"walked out, badge kept"\r\n${future!.email},Active,${date},Engineering,\r\n${mover!.email},Active,,  Sales  ,\r\n${same!.email},Active,,Engineering,\r\n${upper!.email.toUpperCase()},active,,Engineering,\r\n`;
    const versions = await versionsOf(ids);

    const dry = await importHrChanges(intake, { csv, mapping, fileName: 'workday.csv', dryRun: true, principal });
    expect(dry.errors).toEqual([]);
    expect(dry).toMatchObject({ dryRun: true, applied: 0, unchanged: 2, file: { rows: 5 } });
    expect(dry.changes).toEqual([
      { line: 2, person: leaver!.email, identityId: leaver!.id, userName: leaver!.userName, kind: 'leaver', effectiveAt: null, changes: { active: { from: true, to: false } } },
      { line: 3, person: future!.email, identityId: future!.id, userName: future!.userName, kind: 'leaver', effectiveAt: `${date}T00:00:00.000Z`, changes: { terminationDate: { from: null, to: new Date(`${date}T00:00:00.000Z`) } } },
      { line: 4, person: mover!.email, identityId: mover!.id, userName: mover!.userName, kind: 'mover', effectiveAt: null, changes: { department: { from: 'Engineering', to: 'Sales' } } },
    ]);
    expect(await eventsOf(ids)).toHaveLength(0);
    expect(await versionsOf(ids)).toEqual(versions);

    const applied = await importHrChanges(intake, { csv, mapping, fileName: 'workday.csv', dryRun: false, principal });
    expect(applied).toMatchObject({ applied: 3, failed: [], errors: [] });
    expect(applied.changes).toEqual(dry.changes);
    const events = await eventsOf(ids);
    expect(events.map((event) => [event.identity_id, event.kind, event.actor]).sort()).toEqual(
      [[leaver!.id, 'leaver', 'hr-bot'], [future!.id, 'leaver', 'hr-bot'], [mover!.id, 'mover', 'hr-bot']].sort(),
    );
    expect(events.find((event) => event.identity_id === future!.id)?.effective_at.toISOString()).toBe(`${date}T00:00:00.000Z`);
    const now = events.find((event) => event.identity_id === leaver!.id)!;
    expect((await jml.resultOf(now.workflow_id)).every((outcome) => DONE.includes(outcome.status))).toBe(true);
    expect(jml.simulators.simulators.userapi.users().find((user) => user.id === leaver!.externalId)?.active).toBe(false);
    expect((await jml.scim.get(`/Users/${mover!.id}`)).body[ENTERPRISE]).toMatchObject({ department: 'Sales' });
    const audit = await jml.database.query<{ action: string; data: { line?: number; sha256: string } }>(`SELECT action, data FROM audit_event WHERE action LIKE 'hr.import%' ORDER BY id`);
    expect(audit.filter((row) => row.action === 'hr.import.applied').map((row) => row.data.line).sort()).toEqual([2, 3, 4]);
    expect(audit.at(-1)).toMatchObject({ action: 'hr.import', data: { sha256: applied.file.sha256 } });

    const versionsAfter = await versionsOf(ids);
    const again = await importHrChanges(intake, { csv, mapping, fileName: 'workday.csv', dryRun: false, principal });
    expect(again).toMatchObject({ changes: [], unchanged: 5, applied: 0, errors: [] });
    expect(await eventsOf(ids)).toHaveLength(3);
    expect(await versionsOf(ids)).toEqual(versionsAfter);
  });

  it('refuses the whole file with a line-numbered reason for every row that cannot be applied', async () => {
    const [good, twice, badDate, badStatus] = await provision('csv-b', 4);
    const ids = [good!.id, twice!.id, badDate!.id, badStatus!.id];
    const versions = await versionsOf(ids);
    const csv = [
      'Work Email,Status,Termination Date,Department',
      `${good!.email},Terminated,,`,
      `nobody@example.com,Terminated,,`,
      '',
      `"${twice!.email}",Active,,"Research`,
      `and Development"`,
      `${badDate!.email},Active,2027-02-30,`,
      `${badStatus!.email},Gone,,`,
      `${twice!.email},Terminated,,`,
      `,Terminated,,`,
      `${good!.email.replace('0', '9')},Active,31/12/2027,`,
    ].join('\n');
    const report = await importHrChanges(intake, { csv, mapping, fileName: 'bad.csv', dryRun: false, principal });
    expect(report.applied).toBe(0);
    expect(report.errors).toEqual([
      { line: 3, reason: 'no live identity has email "nobody@example.com"' },
      { line: 7, reason: expect.stringContaining('"Termination Date" "2027-02-30" is not an ISO 8601 date') as unknown },
      { line: 8, reason: expect.stringContaining('"Status" is "Gone", neither an active value (Active)') as unknown },
      { line: 9, reason: expect.stringContaining(`the same person as line 5 (${twice!.userName})`) as unknown },
      { line: 10, reason: 'the person column "Work Email" is empty' },
      { line: 11, reason: expect.stringContaining('no live identity has email') as unknown },
    ]);
    expect(await eventsOf(ids)).toHaveLength(0);
    expect(await versionsOf(ids)).toEqual(versions);
  });

  it('dates a row\'s mover or rehire by the effective date column, as the webhook does; the same file again changes nothing', async () => {
    const [moving, returning, leaving] = await provision('csv-d', 3);
    const ids = [moving!.id, returning!.id, leaving!.id];
    const dated = parseMapping(
      { person: { column: 'Email', attribute: 'email' }, columns: { active: 'Status', department: 'Department' }, effectiveDate: 'Effective Date', activeValues: { active: ['Active'], inactive: ['Terminated'] } },
      'test',
    );
    // The returning person left first (a leaver now, over the same import).
    await importHrChanges(intake, { csv: `Email,Status,Department,Effective Date\n${returning!.email},Terminated,,\n`, mapping: dated, fileName: 'leave.csv', dryRun: false, principal });
    const csv = `Email,Status,Department,Effective Date\n${moving!.email},Active,Finance,2099-05-01\n${returning!.email},Active,Sales,2099-06-01\n`;
    const dry = await importHrChanges(intake, { csv, mapping: dated, fileName: 'dated.csv', dryRun: true, principal });
    expect(dry.errors).toEqual([]);
    expect(dry.changes.map((change) => [change.line, change.kind, change.effectiveAt])).toEqual([
      [2, 'mover', '2099-05-01T00:00:00.000Z'],
      [3, 'rehire', '2099-06-01T00:00:00.000Z'],
    ]);
    const versions = await versionsOf(ids);
    const applied = await importHrChanges(intake, { csv, mapping: dated, fileName: 'dated.csv', dryRun: false, principal });
    expect(applied).toMatchObject({ applied: 2, failed: [], errors: [] });
    // Scheduled, not applied: the people keep their values until the dates.
    expect(await versionsOf(ids)).toEqual(versions);
    const waiting = await jml.database.query<{ identity_id: string; kind: string; status: string; effective_at: Date }>(
      `SELECT identity_id, kind, status::text, effective_at FROM lifecycle_event WHERE identity_id = ANY($1::uuid[]) AND kind IN ('mover', 'rehire')`, [ids]);
    expect(waiting.map((event) => [event.identity_id, event.kind, event.effective_at.toISOString()]).sort()).toEqual(
      [[moving!.id, 'mover', '2099-05-01T00:00:00.000Z'], [returning!.id, 'rehire', '2099-06-01T00:00:00.000Z']].sort(),
    );
    expect(waiting.every((event) => ['pending', 'waiting'].includes(event.status))).toBe(true);

    const again = await importHrChanges(intake, { csv, mapping: dated, fileName: 'dated.csv', dryRun: false, principal });
    expect(again).toMatchObject({ changes: [], unchanged: 2, applied: 0 });
    // Exports show a returning person as terminated until their first day: that status is no leaver.
    const snapshot = await importHrChanges(intake, { csv: `Email,Status,Department,Effective Date\n${returning!.email},Terminated,,\n`, mapping: dated, fileName: 'snapshot.csv', dryRun: false, principal });
    expect(snapshot).toMatchObject({ changes: [], unchanged: 1, applied: 0 });
    const [rehire] = await jml.database.query<{ status: string }>(`SELECT status::text FROM lifecycle_event WHERE identity_id = $1 AND kind = 'rehire'`, [returning!.id]);
    expect(['pending', 'waiting']).toContain(rehire?.status);
    const moved = await importHrChanges(intake, { csv: csv.replace('2099-05-01', '2099-05-15'), mapping: dated, fileName: 'dated2.csv', dryRun: false, principal });
    expect(moved.changes.map((change) => [change.kind, change.effectiveAt])).toEqual([['mover', '2099-05-15T00:00:00.000Z']]);
    const [mover] = await jml.database.query<{ effective_at: Date; n: number }>(
      `SELECT max(effective_at) AS effective_at, count(*)::int AS n FROM lifecycle_event WHERE identity_id = $1 AND kind = 'mover'`, [moving!.id]);
    expect(mover).toEqual({ effective_at: new Date('2099-05-15T00:00:00.000Z'), n: 1 });

    const refused = await importHrChanges(intake, { csv: `Email,Status,Department,Effective Date\n${leaving!.email},Terminated,,2099-05-01\n${leaving!.email.toUpperCase()}x,Active,,soon\n`, mapping: dated, fileName: 'bad.csv', dryRun: true, principal });
    expect(refused.errors).toEqual([
      { line: 2, reason: expect.stringContaining('"Effective Date" 2099-05-01T00:00:00.000Z is ahead, which dates a department, title') as unknown },
      { line: 3, reason: expect.stringContaining('no live identity has email') as unknown },
    ]);
    const badDate = await importHrChanges(intake, { csv: `Email,Status,Department,Effective Date\n${leaving!.email},Active,Legal,soon\n`, mapping: dated, fileName: 'bad.csv', dryRun: true, principal });
    expect(badDate.errors).toEqual([{ line: 2, reason: expect.stringContaining('"Effective Date" "soon" is not an ISO 8601 date') as unknown }]);
  });

  it('refuses a file it cannot read as CSV, and a mapping that does not validate', async () => {
    await expect(importHrChanges(intake, { csv: 'Email,Status\nx,Active\n', mapping, fileName: 'x.csv', dryRun: true, principal })).rejects.toThrow(
      /line 1: the header lacks the mapped columns "Work Email", "Termination Date", "Department"/,
    );
    await expect(importHrChanges(intake, { csv: 'Work Email,Status,Termination Date,Department\na,b,c,d\ne,f\n', mapping, fileName: 'x.csv', dryRun: true, principal })).rejects.toThrow(CsvFormatError);
    await expect(importHrChanges(intake, { csv: 'Work Email,Status,Termination Date,Department\n"a,b,c,d\n', mapping, fileName: 'x.csv', dryRun: true, principal })).rejects.toThrow(/line \d+:.*quote/i);
    expect(() => parseMapping({ person: { column: 'Email', attribute: 'phone' }, columns: {} }, 'm.json')).toThrow(MappingError);
    expect(() => parseMapping({ person: { column: 'Email', attribute: 'email' }, columns: {} }, 'm.json')).toThrow(/columns: must map at least one attribute/);
    expect(() => parseMapping({ person: { column: 'Email', attribute: 'email' }, columns: { dept: 'D' } }, 'm.json')).toThrow(/dept/);
  });

  it('from the command line: a dry run prints the changes, apply applies them, refusals exit 1', async () => {
    const [person] = await provision('csv-c', 1);
    const csvFile = path.join(dir, 'export.csv');
    const mappingFile = path.join(dir, 'mapping.json');
    writeFileSync(csvFile, `Worker,Dept\n${person!.externalId},Finance\n`);
    writeFileSync(mappingFile, JSON.stringify({ person: { column: 'Worker', attribute: 'externalId' }, columns: { department: 'Dept' } }));
    const run = async (args: Partial<Parameters<typeof hrCommand>[1]>) => {
      const output = { out: '', err: '' };
      const code = await hrCommand(() => intake, { action: 'import', file: csvFile, mapping: mappingFile, as: 'pat', ...args }, { out: (text) => void (output.out += text), err: (text) => void (output.err += text) });
      return { code, ...output };
    };
    const dry = await run({ dryRun: true });
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`line 2  ${person!.userName}  mover  department: Engineering -> Finance`);
    expect(dry.out).toContain('Dry run: nothing was applied.');
    expect(await eventsOf([person!.id])).toHaveLength(0);
    const applied = await run({});
    expect(applied.code).toBe(0);
    expect(applied.out).toContain('Applied 1 row');
    expect((await eventsOf([person!.id])).map((event) => event.kind)).toEqual(['mover']);
    expect((await run({})).out).toContain('Changes: 0');

    writeFileSync(csvFile, `Worker,Dept\nemp-nobody,Finance\n`);
    const refused = await run({});
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('line 2: no live identity has externalId "emp-nobody"');
    writeFileSync(mappingFile, '{"person": {}}');
    expect((await run({})).code).toBe(2);
    expect((await run({ mapping: path.join(dir, 'missing.json') })).code).toBe(2);
  });
});

describe('the HR import upload on the operator pages', () => {
  const login = async (kind: 'operator' | 'auditor') => {
    const { token } = await createToken(jml.system.db, { name: `hr-${kind}`, kind });
    const response = await fetch(`${jml.system.url}/ui/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: jml.system.url! }, body: new URLSearchParams({ token }).toString() });
    return response.headers.getSetCookie().find((header) => header.startsWith('jml_ui_session='))!.split(';')[0]!;
  };
  const upload = async (cookie: string, csv: string, mappingJson: string, mode: string) => {
    const body = new FormData();
    body.append('csv', new Blob([csv], { type: 'text/csv' }), 'export.csv');
    body.append('mapping', new Blob([mappingJson], { type: 'application/json' }), 'mapping.json');
    body.append('mode', mode);
    const response = await fetch(`${jml.system.url}/ui/hr/import`, { method: 'POST', headers: { cookie, origin: jml.system.url! }, body });
    return { status: response.status, text: await response.text() };
  };
  const mappingJson = JSON.stringify({ person: { column: 'Login', attribute: 'userName' }, columns: { terminationDate: 'Leaves' } });

  it('shows a dry run, applies, and shows a refused file line by line', async () => {
    const [person] = await provision('csv-ui', 1);
    const cookie = await login('operator');
    const page = await (await fetch(`${jml.system.url}/ui/hr`, { headers: { cookie } })).text();
    expect(page).toContain('enctype="multipart/form-data"');
    const csv = `Login,Leaves\n${person!.userName},2099-01-31\n`;
    const dry = await upload(cookie, csv, mappingJson, 'dry-run');
    expect(dry.status).toBe(200);
    expect(dry.text).toContain('leaver on 2099-01-31T00:00:00.000Z');
    expect(dry.text).toContain('Dry run: nothing was applied.');
    expect(await eventsOf([person!.id])).toHaveLength(0);
    const applied = await upload(cookie, csv, mappingJson, 'apply');
    expect(applied.text).toContain('Applied <strong class="applied">1</strong>');
    expect((await eventsOf([person!.id])).map((event) => [event.kind, event.actor])).toEqual([['leaver', 'hr-operator']]);
    const again = await upload(cookie, csv, mappingJson, 'apply');
    expect(again.text).toContain('0 to change, 1 unchanged');

    const refused = await upload(cookie, `Login,Leaves\n${person!.userName},soon\n<b>x</b>,2099-01-01\n`, mappingJson, 'apply');
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('2 rows cannot be applied, so nothing was applied.');
    expect(refused.text).toContain('no live identity has userName &quot;&lt;b&gt;x&lt;/b&gt;&quot;');
    expect((await upload(cookie, csv, '{"person": 1}', 'dry-run')).status).toBe(400);
  });

  it('refuses auditors, oversized files and uploads that are not multipart', async () => {
    const auditor = await login('auditor');
    expect((await upload(auditor, 'Login,Leaves\n', mappingJson, 'dry-run')).status).toBe(403);
    const cookie = await login('operator');
    const big = await upload(cookie, `Login,Leaves\n${'x,2099-01-01\n'.repeat(700_000)}`, mappingJson, 'dry-run');
    expect(big.status).toBe(413);
    const form = await fetch(`${jml.system.url}/ui/hr/import`, { method: 'POST', headers: { cookie, origin: jml.system.url!, 'content-type': 'application/x-www-form-urlencoded' }, body: 'mode=apply' });
    expect(form.status).toBe(415);
  });
});

describe('POST /api/hr/import (the operator API)', () => {
  const tokenOf = async (kind: 'operator' | 'auditor') => (await createToken(jml.system.db, { name: `api-${kind}`, kind })).token;
  const mappingJson = JSON.stringify({ person: { column: 'Login', attribute: 'userName' }, columns: { terminationDate: 'Leaves' } });
  const post = async (token: string, query: string, files: { csv?: string; mapping?: string }) => {
    const body = new FormData();
    if (files.csv !== undefined) body.append('csv', new Blob([files.csv], { type: 'text/csv' }), 'export.csv');
    if (files.mapping !== undefined) body.append('mapping', new Blob([files.mapping], { type: 'application/json' }), 'mapping.json');
    const response = await fetch(`${jml.system.url}/api/hr/import${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('answers a dry run with the report, applies without dry-run, and changes nothing the second time', async () => {
    const [person] = await provision('csv-api', 1);
    const token = await tokenOf('operator');
    const csv = `Login,Leaves\n${person!.userName},2099-02-28\n`;
    const dry = await post(token, '?dry-run', { csv, mapping: mappingJson });
    expect(dry).toMatchObject({ status: 200, body: { dryRun: true, applied: 0, errors: [], changes: [{ line: 2, identityId: person!.id, kind: 'leaver', effectiveAt: '2099-02-28T00:00:00.000Z' }] } });
    expect(await eventsOf([person!.id])).toHaveLength(0);
    const applied = await post(token, '', { csv, mapping: mappingJson });
    expect(applied).toMatchObject({ status: 200, body: { dryRun: false, applied: 1 } });
    expect((await eventsOf([person!.id])).map((event) => [event.kind, event.actor])).toEqual([['leaver', 'api-operator']]);
    const again = await post(token, '?dry-run=false', { csv, mapping: mappingJson });
    expect(again).toMatchObject({ status: 200, body: { applied: 0, unchanged: 1, changes: [] } });
    expect(await eventsOf([person!.id])).toHaveLength(1);

    const refused = await post(token, '', { csv: `Login,Leaves\n${person!.userName},soon\n`, mapping: mappingJson });
    expect(refused).toMatchObject({ status: 422, body: { applied: 0, errors: [{ line: 2 }] } });
  });

  it('refuses auditors, missing or oversized files, a bad mapping, a bad dry-run and bodies that are not multipart', async () => {
    expect((await post(await tokenOf('auditor'), '?dry-run', { csv: 'Login,Leaves\n', mapping: mappingJson })).status).toBe(403);
    const token = await tokenOf('operator');
    expect(await post(token, '?dry-run', { csv: 'Login,Leaves\n' })).toMatchObject({ status: 400, body: { error: 'InvalidRequest', errors: [{ field: 'mapping' }] } });
    expect(await post(token, '?dry-run', { csv: 'Login,Leaves\n', mapping: '{"person": 1}' })).toMatchObject({ status: 400, body: { error: 'MappingError' } });
    expect(await post(token, '?dry-run=maybe', { csv: 'Login,Leaves\n', mapping: mappingJson })).toMatchObject({ status: 400, body: { errors: [{ field: 'dry-run' }] } });
    expect(await post(token, '?dry-run', { csv: `Login,Leaves\n${'x,2099-01-01\n'.repeat(700_000)}`, mapping: mappingJson })).toMatchObject({ status: 413, body: { error: 'UploadRefused' } });
    const json = await fetch(`${jml.system.url}/api/hr/import?dry-run`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
  });
});
