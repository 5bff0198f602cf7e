// `jml start --role worker` runs the workers and answers its health check, nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../support/system.js';

let worker: TestSystem;

beforeAll(async () => {
  worker = await startTestSystem({ roles: { api: false, worker: true } });
});

afterAll(async () => {
  await worker.close();
});

describe('worker role', () => {
  it('answers /health and serves no SCIM or operator routes', async () => {
    const health = await fetch(`${worker.system.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${worker.system.url}/scim/v2/Users`)).status).toBe(404);
    expect((await fetch(`${worker.system.url}/api/events`)).status).toBe(404);
    expect(worker.system.relay).toBeUndefined();
  });
});
