// Every call a simulator received, so tests and the demo can show what jml actually sent.
import type { Request, RequestHandler, Response } from 'express';
import type { Clock } from './clock.js';

export interface RecordedCall {
  method: string;
  /** Path below the simulator's prefix, without the query string. */
  path: string;
  query: Record<string, unknown>;
  /** Request headers with credentials replaced by "[redacted]". */
  headers: Record<string, string>;
  body: unknown;
  /** Status returned; 0 while the call is still being answered. */
  status: number;
  /** Arrival time on the simulator's clock (epoch ms). */
  at: number;
}

const SECRET_HEADERS = new Set(['authorization', 'x-auth-token', 'api-key', 'cookie']);

function recordableHeaders(request: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[name] = SECRET_HEADERS.has(name) ? '[redacted]' : Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

interface Entry {
  call: RecordedCall;
  /** Held until the response is finished, so a listing made meanwhile still shows the status. */
  live?: { request: Request; response: Response };
}

export class CallLog {
  private entries: Entry[] = [];

  constructor(private readonly now: Clock) {}

  /** Records every request except the simulator's own control routes (`/_sim/...`). */
  middleware(): RequestHandler {
    return (request, response, next) => {
      if (request.path.startsWith('/_sim/')) return next();
      const entry: Entry = {
        call: {
          method: request.method,
          path: request.path,
          query: { ...request.query },
          headers: recordableHeaders(request),
          body: undefined,
          status: 0,
          at: this.now(),
        },
        live: { request, response },
      };
      this.entries.push(entry);
      response.once('close', () => {
        entry.call.status = response.headersSent ? response.statusCode : 0;
        entry.call.body = request.body as unknown;
        entry.live = undefined;
      });
      next();
    };
  }

  list(): RecordedCall[] {
    return this.entries.map(({ call, live }) => {
      if (!live) return { ...call };
      // The client can read the answer before 'close' fires; the status is known once headers went out.
      return {
        ...call,
        body: live.request.body as unknown,
        status: live.response.headersSent ? live.response.statusCode : 0,
      };
    });
  }

  clear(): void {
    this.entries = [];
  }
}
