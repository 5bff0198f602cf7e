// The downstream simulators (Rocket.Chat, Mendix, the user API) in a child process of their own,
// so their work during the leaver workflows is not counted as jml's. Vendor rate limits are off
// unless a benchmark sets one; a latency can be added to every vendor call.
import { startSimulatorServer, type SeedIdentity, type SimulatorServer } from '../../src/simulators/index.js';
import { serveParent } from './child.js';

export interface SimulatorsStartInput {
  /** Added to every vendor call, as a SaaS API's own response time. */
  latencyMs?: number;
  /**
   * Deactivations per second each vendor allows. Rocket.Chat counts per route and the user API per
   * key, one call per deactivation each; Mendix counts per PAT, and its uuid lookup and its PATCH
   * share the simulators' one PAT, so it allows twice as many calls.
   */
  deactivationsPerSecond?: number;
}

/** What the simulators saw, for a benchmark's verdict: counted by them, not by jml. */
export interface DownstreamCounts {
  calls: number;
  rateLimited: number;
  serverErrors: number;
  /** Accounts that are inactive now. */
  inactive: number;
  /** State changes the user API performed (it records each; replays are not changes). */
  userapiDeactivations: number;
  /** Calls that reactivated someone (a leaver burst should make none). */
  reactivations: number;
}

export type SimulatorsProcessApi = {
  start: (input?: SimulatorsStartInput) => Promise<SimulatorServer['urls']>;
  /** Gives each person an active account in all three systems, as the leaver workflow expects. */
  seedAccounts: (identities: SeedIdentity[]) => number;
  counts: () => Record<'rocketchat' | 'mendix' | 'userapi', DownstreamCounts>;
};

let server: SimulatorServer | undefined;

const api: SimulatorsProcessApi = {
  async start(input = {}) {
    const allowed = input.deactivationsPerSecond;
    const window = allowed ? { limit: allowed, windowMs: 1000 } : false;
    server = await startSimulatorServer({
      rocketchat: { rateLimit: window },
      mendix: { rateLimit: allowed ? { limit: 2 * allowed, windowMs: 1000 } : false },
      userapi: { rateLimits: window ? [window] : false },
    });
    if (input.latencyMs) {
      for (const simulator of [server.simulators.rocketchat, server.simulators.mendix, server.simulators.userapi]) simulator.setFaults({ latencyMs: input.latencyMs });
    }
    return server.urls;
  },
  seedAccounts(identities) {
    // Straight to each simulator: everyone here is new, so the find-or-create of seedFromIdentity
    // (a scan per person) is not needed, and at 10,000 people it would dominate.
    const { rocketchat, mendix, userapi } = server!.simulators;
    for (const identity of identities) {
      rocketchat.seedUser({ username: identity.userName, ...(identity.email ? { email: identity.email } : {}) });
      if (identity.email) mendix.seedUser({ email: identity.email });
      const userapiId = identity.externalId ?? identity.id;
      if (userapiId) userapi.seedUser({ id: userapiId });
    }
    return identities.length;
  },
  counts() {
    const { rocketchat, mendix, userapi } = server!.simulators;
    const base = (calls: { status: number; body: unknown }[], inactive: number) => ({
      calls: calls.length,
      rateLimited: calls.filter((call) => call.status === 429).length,
      serverErrors: calls.filter((call) => call.status >= 500).length,
      inactive,
      userapiDeactivations: 0,
      reactivations: 0,
    });
    const rocketchatCalls = rocketchat.calls();
    const userapiCalls = userapi.calls();
    return {
      rocketchat: {
        ...base(rocketchatCalls, rocketchat.users().filter((user) => !user.active).length),
        reactivations: rocketchatCalls.filter((call) => (call.body as { activeStatus?: unknown } | undefined)?.activeStatus === true).length,
      },
      mendix: base(mendix.calls(), mendix.users().filter((user) => !user.active).length),
      userapi: {
        ...base(userapiCalls, userapi.users().filter((user) => !user.active).length),
        userapiDeactivations: userapi.actions().filter((action) => action.action === 'deactivate').length,
        reactivations: userapi.actions().filter((action) => action.action === 'activate').length,
      },
    };
  },
};

serveParent(api, async () => server?.close());
