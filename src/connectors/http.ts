// The one HTTP client the connectors use: node:http(s) on a keep-alive agent per base URL, with a
// deadline per request, JSON in and out, network failures surfaced as RetryableDownstreamError and
// redirects (a wrong base URL) as permanent. Classifying the vendor's error statuses is each
// connector's job (its classify.ts), because what a status means differs per vendor.
//
// Not fetch: a leaver makes eight vendor calls, and in a profiled burst fetch (undici, its web
// streams and the AbortSignal per call) was 14 % of the worker's JavaScript time, about 1.8 ms of
// CPU a call; node:http does the same keep-alive pooling for less (decision 020, "Where the
// worker's CPU goes"; bench/support/load.ts chose it for the load generator for the same reason).
import http from 'node:http';
import https from 'node:https';
import { CappedBody } from '../capped-body.js';
import { logger as defaultLogger, type Logger } from '../logger.js';
import { PermanentDownstreamError, RetryableDownstreamError } from './errors.js';
import type { SystemName } from './types.js';

/** What the connectors read of an answer's headers (a WHATWG `Headers` is one too). */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  /** The parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Path and query below the base URL, e.g. `/api/v1/users.info?username=ada`. */
  path: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/**
 * The largest vendor answer read. Every answer jml needs is a few KiB (one user, one status); a
 * larger one is a misbehaving or hostile endpoint, and reading it whole would let it fill memory.
 */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** How every connector talks HTTP; tests and benchmarks override the clock or logger. */
export interface ConnectionOptions {
  /** Per request, from sending it to the answer's last byte; default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The clock rate-limit hints are measured against. */
  now?: () => number;
  logger?: Logger;
  /** Default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
}

export interface HttpClientOptions extends ConnectionOptions {
  system: SystemName;
  /** The vendor's name as people know it, for messages ("Rocket.Chat"). */
  vendor: string;
  baseUrl: string;
  /** The environment variable holding baseUrl, named in messages about unreachable hosts. */
  baseUrlSetting: string;
}

export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
}

export class ResponseTooLarge extends Error {
  override readonly name = 'ResponseTooLarge';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** A fetch answer's text (S3 checkpoints), read chunk by chunk so that no more than `limit` bytes are ever held. */
export async function readCapped(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await response.body.cancel();
    throw new ResponseTooLarge(`${declared} bytes`);
  }
  const body = new CappedBody(limit);
  // Leaving the loop early cancels the stream (the async iterator's return()).
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) if (!body.add(chunk)) break;
  if (body.over) throw new ResponseTooLarge(`more than ${limit} bytes`);
  return body.bytes().toString('utf8');
}

/** No answer (to its last byte) within the request's deadline. */
class DeadlinePassed extends Error {
  override readonly name = 'DeadlinePassed';
}

/**
 * A kept-alive connection the vendor closed just as the request went out on it (its idle timeout
 * and our reuse crossed): nothing was answered, and the request is sent again on another
 * connection, as Node's documentation advises (http `request.reusedSocket`). A burst through
 * node:http met 11 of these in about 16,000 calls to the simulators (5 s idle timeout).
 */
class StaleConnection extends Error {
  override readonly name = 'StaleConnection';
}

/** Attempts on a reused connection that the vendor had closed, before the error counts. */
const STALE_CONNECTION_RETRIES = 2;

/** A socket error's code (ECONNREFUSED, ECONNRESET, ...), else its message. */
function reasonOf(error: unknown): string {
  if (error instanceof StaleConnection) return error.message;
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.message : String(error);
}

/** Node's lower-cased header map, read as `Headers.get` reads (repeated values joined by ", "). */
function headersOf(message: http.IncomingMessage): ResponseHeaders {
  return {
    get(name) {
      const value = message.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

interface RawAnswer {
  status: number;
  headers: ResponseHeaders;
  /** Undefined for a redirect, whose body is not read. */
  text?: string;
}

/**
 * One request: the answer's status, headers and text (at most `limit` bytes, else ResponseTooLarge),
 * or a rejection with the socket's error or DeadlinePassed. A redirect is answered without its body.
 */
function send(
  transport: typeof http | typeof https,
  agent: http.Agent,
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string; timeoutMs: number; limit: number },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      outcome();
    };
    let answered = false;
    const request = transport.request(url, { method: init.method, headers: init.headers, agent }, (response) => {
      answered = true;
      const status = response.statusCode ?? 0;
      const headers = headersOf(response);
      if (status >= 300 && status < 400) {
        response.resume();
        finish(() => resolve({ status, headers }));
        return;
      }
      const declared = Number(response.headers['content-length'] ?? '0');
      if (declared > init.limit) {
        finish(() => reject(new ResponseTooLarge(`${declared} bytes`, status)));
        response.destroy();
        return;
      }
      const body = new CappedBody(init.limit);
      response.on('data', (chunk: Buffer) => {
        if (body.add(chunk)) return;
        finish(() => reject(new ResponseTooLarge(`more than ${init.limit} bytes`, status)));
        response.destroy();
      });
      response.on('end', () => finish(() => resolve({ status, headers, text: body.bytes().toString('utf8') })));
      response.on('error', (error) => finish(() => reject(error)));
      // A connection closed before the body ended.
      response.on('aborted', () => finish(() => reject(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }))));
    });
    const deadline = setTimeout(() => {
      finish(() => reject(new DeadlinePassed(`no answer within ${init.timeoutMs} ms`)));
      request.destroy();
    }, init.timeoutMs);
    request.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      const stale = request.reusedSocket && !answered && (code === 'ECONNRESET' || code === 'EPIPE');
      finish(() => reject(stale ? new StaleConnection(code) : error));
    });
    request.end(init.body);
  });
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const log = (options.logger ?? defaultLogger).child({ system: options.system });
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limit = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const secure = new URL(base).protocol === 'https:';
  const transport = secure ? https : http;
  // Connections to the vendor are kept open between calls, as fetch's pool kept them.
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });

  return {
    async request({ method, path, headers, json }) {
      const url = new URL(`${base}${path}`);
      // Only the path is logged or put in messages: queries can carry email addresses.
      const where = `${method} ${url.pathname}`;
      const started = performance.now();
      const body = json === undefined ? undefined : JSON.stringify(json);
      const init = {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
          ...headers,
        },
        body,
        timeoutMs,
        limit,
      };
      let answer: RawAnswer;
      try {
        for (let stale = 0; ; stale += 1) {
          try {
            answer = await send(transport, agent, url, init);
            break;
          } catch (error) {
            if (!(error instanceof StaleConnection) || stale >= STALE_CONNECTION_RETRIES) throw error;
          }
        }
      } catch (error) {
        if (error instanceof ResponseTooLarge) {
          throw new PermanentDownstreamError(`${options.vendor} answered ${where} (${error.status}) with a body of ${error.message}, over jml's limit: check ${options.baseUrlSetting}`, {
            system: options.system,
            status: error.status,
          });
        }
        const reason = reasonOf(error);
        log.warn({ request: where, reason }, 'downstream call failed before an answer');
        throw new RetryableDownstreamError(
          `${options.vendor} could not be reached (${reason}) for ${where}: check that it is up and that ${options.baseUrlSetting} is right`,
          { system: options.system },
        );
      }
      // A redirect means a wrong base URL (http vs https, a moved host): surface it, do not follow it.
      if (answer.status >= 300 && answer.status < 400) {
        throw new PermanentDownstreamError(
          `${options.vendor} redirected ${where} (${answer.status}) to ${answer.headers.get('location') ?? 'elsewhere'}: set ${options.baseUrlSetting} to the URL it redirects to`,
          { system: options.system, status: answer.status },
        );
      }
      log.debug({ request: where, status: answer.status, ms: Math.round(performance.now() - started) }, 'downstream call answered');
      return { status: answer.status, headers: answer.headers, body: parseBody(answer.text ?? '') };
    },
  };
}

/**
 * The wait a `Retry-After` header asks for (RFC 9110 §10.2.3: delay-seconds or an HTTP-date),
 * in ms from `now`; undefined when absent or unreadable.
 */
export function retryAfterMs(headers: ResponseHeaders, now: number): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The statuses every vendor here means the same way: worth another attempt later. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** A short text for the vendor's error body: its own message field, else the raw text. */
export function vendorText(body: unknown, fields: readonly string[]): string | undefined {
  if (typeof body === 'string') return body.slice(0, 500);
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  for (const field of fields) {
    if (typeof record[field] === 'string' && record[field] !== '') return record[field];
  }
  return JSON.stringify(body).slice(0, 500);
}
