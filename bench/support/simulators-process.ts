// The downstream simulators (Rocket.Chat, Mendix, the user API) in a child process of their own,
// so their work during the leaver workflows is not counted as jml's. Vendor rate limits are off:
// the benchmark measures jml, not the vendors' quotas.
import { startSimulatorServer, type SeedIdentity, type SimulatorServer } from '../../src/simulators/index.js';
import { serveParent } from './child.js';

export type SimulatorsProcessApi = {
  start: () => Promise<SimulatorServer['urls']>;
  /** Gives each person an active account in all three systems, as the leaver workflow expects. */
  seedAccounts: (identities: SeedIdentity[]) => number;
};

let server: SimulatorServer | undefined;

const api: SimulatorsProcessApi = {
  async start() {
    server = await startSimulatorServer({ rocketchat: { rateLimit: false }, mendix: { rateLimit: false }, userapi: { rateLimits: false } });
    return server.urls;
  },
  seedAccounts(identities) {
    for (const identity of identities) server!.simulators.seedFromIdentity(identity);
    return identities.length;
  },
};

serveParent(api, async () => server?.close());
