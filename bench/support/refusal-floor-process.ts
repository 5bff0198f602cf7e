// The cheapest refusal node:http can make, for bench/auth-flood.ts to set jml's beside: a server
// in a process of its own (detached, as jml is) that answers every request 429 with a body and
// headers built once. A flood against it costs the machine what any Node HTTP server and the
// flood client cost; what a flood against jml costs beyond that is jml's own work.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveParent } from './child.js';

export type RefusalFloorApi = {
  /** Serves on 127.0.0.1, a free port; answers the base URL. */
  start: () => Promise<string>;
};

// The size of jml's SCIM refusal (RFC 7644 §3.12 body), so both write as many bytes.
const BODY = Buffer.from(
  JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '429', detail: 'Too many failed authentications from this address: retry after 5 s' }),
);
const HEADERS = ['Content-Type', 'application/scim+json; charset=utf-8', 'Content-Length', String(BODY.length), 'Retry-After', '5'];

let server: Server | undefined;

const api: RefusalFloorApi = {
  async start() {
    server = createServer((_req, res) => {
      res.writeHead(429, HEADERS);
      res.end(BODY);
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  },
};

serveParent(api, async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});
