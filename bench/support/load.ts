// The load generator: a keep-alive HTTP client and a bounded-concurrency loop. It uses node:http
// with its own Agent rather than fetch: the same keep-alive pooling, with less client CPU per
// request (the generator shares two cores with the servers), and it counts the sockets it opens,
// so a run shows that connections were reused rather than assumed to be.
import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface HttpResponse {
  status: number;
  body: string;
}

export interface ScimHttpClient {
  send(method: string, path: string, body?: unknown): Promise<HttpResponse>;
  /** Sockets opened since the last reset: at most the concurrency when keep-alive works. */
  socketsOpened(): number;
  resetSocketCount(): void;
  close(): void;
}

export class NonLoopbackTargetError extends Error {
  override readonly name = 'NonLoopbackTargetError';
}

/**
 * A SCIM client for one server on 127.0.0.1 (anything else is refused: this is a load tool).
 * `localAddress` is the loopback address it sends from (Linux answers all of 127.0.0.0/8), so that
 * a second client can be another source to the server, as an attacker on another machine is.
 */
export function scimHttpClient(baseUrl: string, token: string, maxSockets: number, options: { localAddress?: string } = {}): ScimHttpClient {
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') {
    throw new NonLoopbackTargetError(`the benchmark only sends load to http://127.0.0.1, not to ${url.origin}`);
  }
  if (options.localAddress !== undefined && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(options.localAddress)) {
    throw new NonLoopbackTargetError(`the benchmark only sends from a loopback address (127.0.0.0/8), not from ${options.localAddress}`);
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const seen = new Set<Socket>();
  const prefix = url.pathname.replace(/\/$/, '');

  function send(method: string, path: string, body?: unknown): Promise<HttpResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          agent,
          host: '127.0.0.1',
          port: url.port,
          ...(options.localAddress ? { localAddress: options.localAddress } : {}),
          method,
          path: `${prefix}${path}`,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/scim+json',
            ...(payload ? { 'content-type': 'application/scim+json', 'content-length': payload.length } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          response.on('error', reject);
        },
      );
      request.on('socket', (socket: Socket) => seen.add(socket));
      request.on('error', reject);
      request.end(payload);
    });
  }

  return {
    send,
    socketsOpened: () => seen.size,
    resetSocketCount: () => seen.clear(),
    close: () => agent.destroy(),
  };
}

/** What one request's check concluded: ok, or why it counts as an error. */
export type Outcome = { ok: true } | { ok: false; reason: string };

export interface LoadResult {
  latenciesMs: Float64Array;
  wallMs: number;
  errors: number;
  /** A few distinct error reasons, for the report. */
  errorSamples: string[];
}

/**
 * Runs `total` requests with at most `concurrency` in flight: each of `concurrency` loops takes
 * the next index as soon as its previous request finished (closed loop, no coordinated pauses).
 */
export async function runLoad(options: { total: number; concurrency: number; request: (index: number) => Promise<Outcome> }): Promise<LoadResult> {
  const { total, concurrency, request } = options;
  const latenciesMs = new Float64Array(total);
  const errorSamples = new Set<string>();
  let errors = 0;
  let next = 0;
  const started = performance.now();
  async function loop() {
    while (next < total) {
      const index = next++;
      const begin = performance.now();
      let outcome: Outcome;
      try {
        outcome = await request(index);
      } catch (error) {
        outcome = { ok: false, reason: (error as Error).message };
      }
      latenciesMs[index] = performance.now() - begin;
      if (!outcome.ok) {
        errors += 1;
        if (errorSamples.size < 5) errorSamples.add(outcome.reason.slice(0, 200));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, loop));
  return { latenciesMs, wallMs: performance.now() - started, errors, errorSamples: [...errorSamples] };
}
