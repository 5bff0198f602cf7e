// The reference the benchmark compares jml to: scimmy-routers with the simplest possible store, a
// Map in memory. No database, no audit, no lifecycle: what SCIM costs in this stack by itself.
// Filters are evaluated by scimmy's own matcher over every stored user, as scimmy's documentation
// suggests for egress, so a lookup is a linear scan of the population.
//
//   node --import tsx bench/reference-scimmy-server.ts   # standalone: prints its URL and token
// bench/scim.ts forks it with an IPC channel and drives it through serveParent below.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { serveParent } from './support/child.js';
import { benchUser, type SeededUser } from './support/users.js';

type StoredUser = Record<string, unknown> & { id: string; userName: string; meta: { created: string; lastModified: string } };
type UserResource = InstanceType<typeof SCIMMY.Resources.User>;

export interface ReferenceServer {
  url: string;
  token: string;
  seed(input: { set: string; count: number; returnFirst: number }): SeededUser[];
  close(): Promise<void>;
}

function notFound(id: string) {
  return new SCIMMY.Types.Error(404, null!, `Resource ${id} not found`);
}

/** The same SCIM surface as jml's: User with the enterprise extension, same service provider config. */
function declareInMemoryUsers(store: Map<string, StoredUser>) {
  // RFC 7644 §3.3: userName is unique (case-insensitively, RFC 7643 §4.1.1); an index keeps the
  // check O(1), as jml's unique index does.
  const byUserName = new Map<string, string>();

  function save(id: string | undefined, instance: object): StoredUser {
    const { id: _id, meta: _meta, ...data } = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
    const userName = String(data.userName);
    const now = new Date().toISOString();
    const before = id === undefined ? undefined : store.get(id);
    if (id !== undefined && !before) throw notFound(id);
    const holder = byUserName.get(userName.toLowerCase());
    if (holder !== undefined && holder !== id) throw new SCIMMY.Types.Error(409, 'uniqueness', `userName "${userName}" is already taken`);
    const user: StoredUser = { ...data, id: id ?? randomUUID(), userName, meta: { created: before?.meta.created ?? now, lastModified: now } };
    if (before) byUserName.delete(before.userName.toLowerCase());
    byUserName.set(userName.toLowerCase(), user.id);
    store.set(user.id, user);
    return user;
  }

  const ingress = (resource: UserResource, instance: object) => save(resource.id, instance);
  const egress = (resource: UserResource) => {
    if (resource.id) {
      const user = store.get(resource.id);
      if (!user) throw notFound(resource.id);
      return user;
    }
    const all = [...store.values()];
    return resource.filter ? (resource.filter.match(all) as StoredUser[]) : all;
  };
  const degress = (resource: UserResource) => {
    const user = store.get(resource.id!);
    if (!user) throw notFound(resource.id!);
    store.delete(user.id);
    byUserName.delete(user.userName.toLowerCase());
  };
  // scimmy's handler types want its own schema class back; it only reads the object's attributes.
  SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false))
    .ingress(ingress as unknown as Parameters<typeof SCIMMY.Resources.User.ingress>[0])
    .egress(egress)
    .degress(degress);
  SCIMMY.Config.set({
    // scimmy-routers sizes its JSON body parser by bulk.maxPayloadSize: jml's default body limit.
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 256 * 1024 },
    changePassword: false,
    etag: false,
    filter: { supported: true, maxResults: 200 },
    patch: true,
    sort: true,
  });
  return { save };
}

export async function startReferenceServer(options: { port?: number } = {}): Promise<ReferenceServer> {
  const store = new Map<string, StoredUser>();
  const { save } = declareInMemoryUsers(store);
  const token = randomBytes(32).toString('base64url');
  const app = express();
  app.disable('x-powered-by');
  app.use(
    '/scim/v2',
    new SCIMMYRouters({
      type: 'bearer',
      handler: (req) => {
        if (req.get('authorization') !== `Bearer ${token}`) throw new Error('A valid bearer token is required');
        return 'benchmark';
      },
    }),
  );
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(listening));
    listening.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/scim/v2`,
    token,
    seed({ set, count, returnFirst }) {
      // Seeded through scimmy's schema, exactly as ingress would store them (not timed).
      const seeded: SeededUser[] = [];
      for (let index = 0; index < count; index++) {
        const user = save(undefined, new SCIMMY.Schemas.User(benchUser(set, index), 'in'));
        if (index < returnFirst) seeded.push({ id: user.id, userName: user.userName, email: user.userName, externalId: `${set}-${index}` });
      }
      return seeded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export type ReferenceProcessApi = {
  start: () => Promise<{ url: string; token: string }>;
  seed: (input: { set: string; count: number; returnFirst: number }) => SeededUser[];
};

if (process.send) {
  let running: ReferenceServer | undefined;
  const api: ReferenceProcessApi = {
    start: async () => {
      running = await startReferenceServer();
      return { url: running.url, token: running.token };
    },
    seed: (input) => running!.seed(input),
  };
  serveParent(api, async () => running?.close());
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const running = await startReferenceServer({ port: Number(process.env.PORT ?? 0) });
  process.stdout.write(`reference SCIM server on ${running.url}\nbearer token: ${running.token}\n`);
}
