import { once } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, test } from 'vitest';
import { PermanentDownstreamError, RetryableDownstreamError } from '../../src/connectors/errors.js';
import { createHttpClient, retryAfterMs, vendorText } from '../../src/connectors/http.js';
import { deadUrl, rejectionOf, startSimulators } from '../simulators/harness.js';

describe('retryAfterMs (RFC 9110 §10.2.3)', () => {
  const now = Date.parse('2026-03-02T09:00:00Z');
  test.each([
    ['120', 120_000],
    ['0', 0],
    ['Mon, 02 Mar 2026 09:01:30 GMT', 90_000],
    ['Mon, 02 Mar 2026 08:00:00 GMT', 0],
    ['soon', undefined],
  ])('Retry-After: %s waits %s ms', (value, expected) => {
    expect(retryAfterMs(new Headers({ 'retry-after': value }), now)).toBe(expected);
  });

  test('no header, no hint', () => {
    expect(retryAfterMs(new Headers(), now)).toBeUndefined();
  });
});

describe('the HTTP client', () => {
  test('keeps a body that is not JSON as text, and an empty one as undefined', async () => {
    const server = await startSimulators();
    try {
      const client = createHttpClient({ system: 'userapi', vendor: 'The user API', baseUrl: `${server.urls.userapi}/`, baseUrlSetting: 'USERAPI_URL' });
      expect(await client.request({ method: 'GET', path: '/nowhere' })).toMatchObject({ status: 404, body: 'Not Found' });
      expect(await client.request({ method: 'POST', path: '/_sim/reset' })).toMatchObject({ status: 204, body: undefined });
    } finally {
      await server.close();
    }
  });

  test('a refused connection is retryable and names the setting, not the query', async () => {
    const client = createHttpClient({ system: 'mendix', vendor: 'Mendix', baseUrl: await deadUrl(), baseUrlSetting: 'MENDIX_URL' });

    const error = await rejectionOf(client.request({ method: 'GET', path: '/v1/uuids?email=ada@example.com' }));
    expect(error).toBeInstanceOf(RetryableDownstreamError);
    expect(error).toMatchObject({ system: 'mendix', status: undefined });
    expect((error as Error).message).toContain('Mendix could not be reached (ECONNREFUSED)');
    expect((error as Error).message).toContain('MENDIX_URL');
    expect((error as Error).message).not.toContain('ada@example.com');
  });
});

describe('vendorText', () => {
  test('prefers the named fields, falls back to the JSON or text', () => {
    expect(vendorText({ success: false, error: 'User not found' }, ['error', 'message'])).toBe('User not found');
    expect(vendorText({ errorCode: 'INSUFFICIENT_PERMISSIONS' }, ['message'])).toBe('{"errorCode":"INSUFFICIENT_PERMISSIONS"}');
    expect(vendorText('<html>Bad gateway</html>', ['message'])).toBe('<html>Bad gateway</html>');
    expect(vendorText(undefined, ['message'])).toBeUndefined();
  });
});

describe('redirects', () => {
  test('are not followed: a redirect means the base URL is wrong, which retrying cannot fix', async () => {
    const server = await startSimulators();
    const redirecting = express();
    redirecting.use((_request, response) => response.redirect(301, `${server.urls.rocketchat}/api/v1/users.info`));
    const listening = redirecting.listen(0, '127.0.0.1');
    await once(listening, 'listening');
    try {
      const { port } = listening.address() as AddressInfo;
      const client = createHttpClient({ system: 'rocketchat', vendor: 'Rocket.Chat', baseUrl: `http://127.0.0.1:${port}`, baseUrlSetting: 'ROCKETCHAT_URL' });

      const error = await rejectionOf(client.request({ method: 'GET', path: '/api/v1/users.info?username=ada' }));
      expect(error).toBeInstanceOf(PermanentDownstreamError);
      expect(error).toMatchObject({ status: 301 });
      expect((error as Error).message).toContain('set ROCKETCHAT_URL to the URL it redirects to');
      expect(server.simulators.rocketchat.calls()).toEqual([]);
    } finally {
      listening.close();
      await server.close();
    }
  });
});

describe('vendor answers', () => {
  test('are read up to a size cap: a huge or endless body is a permanent error, not a full heap', async () => {
    const vendor = express();
    // One declares its length, the other streams without one (chunked): both must be cut short.
    vendor.get('/declared', (_request, response) => response.type('json').send(`"${'x'.repeat(4096)}"`));
    vendor.get('/chunked', (_request, response) => {
      response.type('text');
      for (let chunk = 0; chunk < 64; chunk++) response.write('y'.repeat(1024));
      response.end();
    });
    vendor.get('/small', (_request, response) => response.json({ ok: true }));
    const listening = vendor.listen(0, '127.0.0.1');
    await once(listening, 'listening');
    try {
      const { port } = listening.address() as AddressInfo;
      const client = createHttpClient({ system: 'userapi', vendor: 'The user API', baseUrl: `http://127.0.0.1:${port}`, baseUrlSetting: 'USERAPI_URL', maxResponseBytes: 2048 });
      for (const path of ['/declared', '/chunked']) {
        const error = await rejectionOf(client.request({ method: 'GET', path }));
        expect(error).toBeInstanceOf(PermanentDownstreamError);
        expect((error as Error).message).toMatch(/over jml's limit: check USERAPI_URL/);
      }
      expect(await client.request({ method: 'GET', path: '/small' })).toMatchObject({ status: 200, body: { ok: true } });
    } finally {
      listening.close();
    }
  });
});

describe('kept-alive connections', () => {
  test('a request on a reused connection that the vendor closed is sent again on a new one, not failed', async () => {
    // The vendor answers the first request on each connection and drops the connection at the
    // second, as a server does whose idle timeout ends just as the client reuses the connection.
    const served = new Map<Socket, number>();
    const vendor = http.createServer((request, response) => {
      const count = (served.get(request.socket) ?? 0) + 1;
      served.set(request.socket, count);
      if (count > 1) {
        request.socket.destroy();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' }).end('{"ok":true}');
    });
    vendor.listen(0, '127.0.0.1');
    await once(vendor, 'listening');
    try {
      const { port } = vendor.address() as AddressInfo;
      const client = createHttpClient({ system: 'userapi', vendor: 'The user API', baseUrl: `http://127.0.0.1:${port}`, baseUrlSetting: 'USERAPI_URL' });
      expect(await client.request({ method: 'GET', path: '/first' })).toMatchObject({ status: 200, body: { ok: true } });
      expect(await client.request({ method: 'POST', path: '/second', json: { active: false } })).toMatchObject({ status: 200, body: { ok: true } });
      // Two connections: the second request was dropped on the first and answered on a new one.
      expect([...served.values()]).toEqual([2, 1]);
    } finally {
      vendor.closeAllConnections();
      vendor.close();
    }
  });
});
