// An idle sweep the guard held (decision 042) is approved or rejected from the operator API and the
// operator page through the same decideIdleSweep as `jml idle-sweep`: the signal goes to the
// outbox with its audit row, the two-person rule holds, a rejection is audited with its reason,
// and an auditor may do neither. The held sweep is its audit row, as the preview activity writes it.
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperatorRouter } from '../../src/api/router.js';
import { appendAudit } from '../../src/audit/append.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { createUiRouter } from '../../src/ui/router.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen } from '../support/scim-app.js';
import { operatorClient } from './operator-http.js';

let database: TestDatabase;
let base: string;
let close: () => Promise<void>;
const tokens: Record<string, string> = {};
let kicks = 0;

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const common = { db, verifyToken: createTokenVerifier({ db }), authFailures: new AuthFailureGuard({ db, logger }), logger, onOutboxWritten: () => void kicks++, approvalsRequired: 2 };
  const app = express();
  app.use('/api', createOperatorRouter(common));
  app.use('/ui', createUiRouter(common));
  const { server, baseUrl } = await listen(app as never);
  base = baseUrl;
  close = () => new Promise((resolve) => server.close(() => resolve()));
  for (const [name, kind] of [['grace', 'operator'], ['ada', 'operator'], ['audrey', 'auditor']] as const) tokens[name] = (await createToken(db, { name, kind })).token;
});

afterAll(async () => {
  await close?.();
  await database?.drop();
});

async function hold(workflowId: string, wouldDeactivate: number): Promise<void> {
  await database.db.$transaction((tx) =>
    appendAudit(tx, [{
      actor: 'system',
      action: 'rocketchat.idle_sweep.held',
      system: 'rocketchat',
      data: { workflowId, daysIdle: 90, role: 'user', wouldDeactivate, maxLeavers: 20, accounts: [{ accountId: 'rc-1', identityId: null, lastLogin: '2026-01-01T00:00:00.000Z' }] },
    }]),
  );
}

const { api, logIn } = operatorClient(() => base, tokens);

async function uiPost(cookie: string, path: string, form: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/ui${path}`, { method: 'POST', redirect: 'manual', headers: { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
}

const signals = (workflowId: string) => database.query<{ signal: string; args: [{ by: string }] }>(`SELECT signal, args FROM outbox WHERE kind = 'signal' AND workflow_id = $1 ORDER BY id`, [workflowId]);
const audit = (workflowId: string) => database.query<{ actor: string; action: string; data: Record<string, unknown> }>(`SELECT actor, action, data FROM audit_event WHERE action LIKE 'operator.idle_sweep.%' AND data->>'workflowId' = $1 ORDER BY id`, [workflowId]);

describe('idle-sweep approval on the API and the page', () => {
  it('two different operators release a held sweep, one on the API and one on the page; an auditor may not', async () => {
    await hold('idle-sweep-two-person', 42);
    const listed = await api('GET', '/idle-sweeps', 'grace');
    expect(listed.status).toBe(200);
    expect(listed.body.held).toEqual([expect.objectContaining({ workflowId: 'idle-sweep-two-person', wouldDeactivate: 42, daysIdle: 90, role: 'user', approvedBy: null })]);

    expect((await api('GET', '/idle-sweeps', 'audrey')).status).toBe(403);
    const refused = await api('POST', '/idle-sweeps/idle-sweep-two-person/approve', 'audrey');
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/operator/);

    const first = await api('POST', '/idle-sweeps/idle-sweep-two-person/approve', 'grace');
    expect(first).toEqual({ status: 200, body: { workflowId: 'idle-sweep-two-person', outcome: 'waiting', approvedBy: ['grace'] } });
    const again = await api('POST', '/idle-sweeps/idle-sweep-two-person/approve', 'grace');
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('IdleSweepNotHeld');
    expect(await signals('idle-sweep-two-person')).toEqual([]);

    const cookie = await logIn('ada');
    const page = await (await fetch(`${base}/ui/`, { headers: { cookie } })).text();
    expect(page).toContain('Idle sweeps held by the guard (1)');
    expect(page).toContain('Approved by grace; needs a different operator');
    expect(page).toContain('action="/ui/idle-sweeps/idle-sweep-two-person/approve"');
    const kicked = kicks;
    const approved = await uiPost(cookie, '/idle-sweeps/idle-sweep-two-person/approve');
    expect(approved.status).toBe(303);
    const after = await (await fetch(`${base}/ui/`, { headers: { cookie } })).text();
    expect(after).toContain('Approved idle sweep idle-sweep-two-person (approved by grace and ada)');
    expect(after).not.toContain('Idle sweeps held by the guard');
    expect(kicks).toBe(kicked + 1);

    expect(await signals('idle-sweep-two-person')).toEqual([{ signal: 'approve', args: [{ by: 'ada' }] }]);
    expect((await audit('idle-sweep-two-person')).map((row) => [row.actor, row.action])).toEqual([
      ['grace', 'operator.idle_sweep.approval.recorded'],
      ['ada', 'operator.idle_sweep.approve'],
    ]);
    expect((await api('GET', '/idle-sweeps', 'grace')).body.held).toEqual([]);
  });

  it('a rejection sends the reject signal and is audited with its reason; nothing can be decided after it', async () => {
    await hold('idle-sweep-rejected', 30);
    const rejected = await api('POST', '/idle-sweeps/idle-sweep-rejected/reject', 'grace', { reason: 'the HR export is late, these people are not idle' });
    expect(rejected).toEqual({ status: 200, body: { workflowId: 'idle-sweep-rejected', outcome: 'rejected', approvedBy: [] } });
    expect(await signals('idle-sweep-rejected')).toEqual([{ signal: 'reject', args: [{ by: 'grace' }] }]);
    expect(await audit('idle-sweep-rejected')).toEqual([
      { actor: 'grace', action: 'operator.idle_sweep.reject', data: { workflowId: 'idle-sweep-rejected', reason: 'the HR export is late, these people are not idle' } },
    ]);
    const cookie = await logIn('ada');
    expect((await uiPost(cookie, '/idle-sweeps/idle-sweep-rejected/approve')).status).toBe(303);
    expect(await (await fetch(`${base}/ui/`, { headers: { cookie } })).text()).toContain('Idle sweep idle-sweep-rejected was already rejected by grace');
    expect((await api('POST', '/idle-sweeps/idle-sweep-rejected/reject', 'ada', { reason: 'x', extra: 1 })).status).toBe(400);
    expect((await api('POST', '/idle-sweeps/no-such-sweep/approve', 'ada')).body.error).toBe('IdleSweepNotHeld');
    expect(await signals('idle-sweep-rejected')).toHaveLength(1);
  });
});
