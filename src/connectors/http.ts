// The one HTTP client the connectors use: fetch with a timeout, JSON in and out, network
// failures surfaced as RetryableDownstreamError and redirects (a wrong base URL) as permanent.
// Classifying the vendor's error statuses is each connector's job (its classify.ts), because what
// a status means differs per vendor.
import { logger as defaultLogger, type Logger } from '../logger.js';
import { PermanentDownstreamError, RetryableDownstreamError } from './errors.js';
import type { SystemName } from './types.js';

export interface HttpResponse {
  status: number;
  headers: Headers;
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

/** How every connector talks HTTP; tests and benchmarks override the clock, fetch or logger. */
export interface ConnectionOptions {
  /** Per request; default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The clock rate-limit hints are measured against. */
  now?: () => number;
  fetch?: typeof fetch;
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

function causeCode(error: unknown): string | undefined {
  const cause = error instanceof Error ? error.cause : undefined;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') return cause.code;
  return undefined;
}

export class ResponseTooLarge extends Error {
  override readonly name = 'ResponseTooLarge';
}

/** The body's text, read chunk by chunk so that no more than `limit` bytes are ever held. */
export async function readCapped(response: Response, limit: number): Promise<string> {
  if (!response.body) return '';
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > limit) {
    await response.body.cancel();
    throw new ResponseTooLarge(`${declared} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the stream (the async iterator's return()).
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) break;
    chunks.push(chunk);
  }
  if (size > limit) throw new ResponseTooLarge(`more than ${limit} bytes`);
  return Buffer.concat(chunks).toString('utf8');
}

async function readBody(response: Response, limit: number): Promise<unknown> {
  const text = await readCapped(response, limit);
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const doFetch = options.fetch ?? fetch;
  const log = (options.logger ?? defaultLogger).child({ system: options.system });
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    async request({ method, path, headers, json }) {
      const url = `${base}${path}`;
      // Only the path is logged or put in messages: queries can carry email addresses.
      const where = `${method} ${new URL(url).pathname}`;
      const started = performance.now();
      let response: Response;
      try {
        response = await doFetch(url, {
          method,
          headers: { accept: 'application/json', ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: json === undefined ? undefined : JSON.stringify(json),
          signal: AbortSignal.timeout(timeoutMs),
          // A redirect means a wrong base URL (http vs https, a moved host): surface it, do not follow it.
          redirect: 'manual',
        });
      } catch (error) {
        const timedOut = error instanceof Error && error.name === 'TimeoutError';
        const reason = timedOut
          ? `no answer within ${timeoutMs} ms`
          : (causeCode(error) ?? (error instanceof Error ? error.message : String(error)));
        log.warn({ request: where, reason }, 'downstream call failed before an answer');
        throw new RetryableDownstreamError(
          `${options.vendor} could not be reached (${reason}) for ${where}: check that it is up and that ${options.baseUrlSetting} is right`,
          { system: options.system },
        );
      }
      if (response.status >= 300 && response.status < 400) {
        throw new PermanentDownstreamError(
          `${options.vendor} redirected ${where} (${response.status}) to ${response.headers.get('location') ?? 'elsewhere'}: set ${options.baseUrlSetting} to the URL it redirects to`,
          { system: options.system, status: response.status },
        );
      }
      let body: unknown;
      try {
        body = await readBody(response, options.maxResponseBytes ?? MAX_RESPONSE_BYTES);
      } catch (error) {
        if (!(error instanceof ResponseTooLarge)) throw error;
        throw new PermanentDownstreamError(`${options.vendor} answered ${where} (${response.status}) with a body of ${error.message}, over jml's limit: check ${options.baseUrlSetting}`, {
          system: options.system,
          status: response.status,
        });
      }
      log.debug({ request: where, status: response.status, ms: Math.round(performance.now() - started) }, 'downstream call answered');
      return { status: response.status, headers: response.headers, body };
    },
  };
}

/**
 * The wait a `Retry-After` header asks for (RFC 9110 §10.2.3: delay-seconds or an HTTP-date),
 * in ms from `now`; undefined when absent or unreadable.
 */
export function retryAfterMs(headers: Headers, now: number): number | undefined {
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
