// Signed checkpoints and evidence bundles in a running jml (docs/decisions/035, 036): the API
// process signs the chain's head while SCIM writes move it, and an auditor downloads a person's
// bundle from GET /api/evidence/:subject/bundle and the operator page, which verifies offline.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/audit/bundle-verify.js';
import { DirectoryPublisher } from '../../src/audit/checkpoint.js';
import { generateSignerKey, parseSignerKey } from '../../src/audit/signed-note.js';
import { createToken } from '../../src/auth/tokens.js';
import { CORE_USER } from '../support/scim-client.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

const key = parseSignerKey(generateSignerKey('jml-audit/api-test'));
let jml: TestSystem;
let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(path.join(tmpdir(), 'jml-api-checkpoints-'));
  jml = await startTestSystem({ checkpoints: { key, directory, publishers: [new DirectoryPublisher(directory)], intervalMs: 1000 } });
});

afterAll(async () => {
  await jml.close();
  await rm(directory, { recursive: true, force: true });
});

async function checkpointCovering(seq: number): Promise<void> {
  for (let waited = 0; waited < 15_000; waited += 200) {
    const sizes = (await readdir(directory)).filter((name) => name.endsWith('.txt')).map((name) => Number(name.slice(11, 31)));
    if (sizes.some((size) => size >= seq)) return;
    await sleep(200);
  }
  throw new Error(`no checkpoint covers seq ${seq} after 15 s`);
}

describe('evidence bundles from the running API', () => {
  it('serves an auditor a bundle that verifies offline, and refuses a SCIM token', async () => {
    const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'lin', active: true });
    expect(created.status).toBe(201);
    // The integrator links the rows, then the checkpointer signs a head at or past them.
    let seq: number | null = null;
    for (let waited = 0; seq === null && waited < 10_000; waited += 100) {
      seq = Number((await jml.system.db.auditEvent.findFirst({ where: { identityId: created.body.id }, orderBy: { id: 'desc' } }))?.seq ?? 0) || null;
      if (seq === null) await sleep(100);
    }
    await checkpointCovering(seq!);

    const auditor = (await createToken(jml.system.db, { name: 'auditor-1', kind: 'auditor' })).token;
    const response = await fetch(`${jml.system.url}/api/evidence/lin/bundle`, { headers: { authorization: `Bearer ${auditor}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/zip');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="?evidence-lin-20\d\d-\d\d-\d\d\.zip"?$/);
    const result = verifyBundle(Buffer.from(await response.arrayBuffer()), key);
    expect(result).toMatchObject({ ok: true, subject: 'lin' });
    expect(result.rowsProven).toBeGreaterThanOrEqual(1);

    const scim = (await createToken(jml.system.db, { name: 'okta-2', kind: 'scim' })).token;
    expect((await fetch(`${jml.system.url}/api/evidence/lin/bundle`, { headers: { authorization: `Bearer ${scim}` } })).status).toBe(403);
    expect((await fetch(`${jml.system.url}/api/evidence/nobody/bundle`, { headers: { authorization: `Bearer ${auditor}` } })).status).toBe(404);

    // The operator page: the evidence page links the bundle, and the link downloads one that verifies.
    const login = await fetch(`${jml.system.url}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: jml.system.url! },
      body: new URLSearchParams({ token: auditor }),
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const page = await (await fetch(`${jml.system.url}/ui/evidence?subject=lin`, { headers: { cookie } })).text();
    expect(page).toContain('href="/ui/evidence/bundle?subject=lin"');
    const download = await fetch(`${jml.system.url}/ui/evidence/bundle?subject=lin`, { headers: { cookie } });
    expect(download.status).toBe(200);
    expect(verifyBundle(Buffer.from(await download.arrayBuffer()), key)).toMatchObject({ ok: true, subject: 'lin' });
  });
});
