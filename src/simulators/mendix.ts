// Mendix simulator: the User Deactivation API (`PATCH /v1/platform-users/{uuid}`) and the User
// Identifier API (`POST /v1/uuids`) from seeds/mendix-user-deactivation-api.md and
// seeds/README.md. In reality they live on two hosts; here both sit under one prefix, and the
// connector is configured with two base URLs that happen to be equal.
import { randomUUID } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { FixedWindowRateLimiter, type RateWindow } from './rate-limit.js';
import {
  assembleSimulator,
  createSimulatorCore,
  SimulatorSeedError,
  type CommonSimulatorOptions,
  type SimulatorHandle,
} from './simulator.js';

export const MENDIX_SCOPES = {
  deactivateUsers: 'mx:user-deactivation:write',
  readUuids: 'mx:mxid3:user-identifiers:uuid:read',
} as const;

export interface MendixPersonalAccessToken {
  token: string;
  scopes: string[];
  /** The Mendix Admin who created the PAT: deactivating this uuid is refused with 403. */
  ownerUuid: string;
}

export const MENDIX_SIMULATOR_CREDENTIALS = {
  pat: 'sim-mendix-personal-access-token',
  adminUuid: '6a1f0c2e-5b7d-4e8a-9c3f-00000000ad01',
} as const;

/** Mendix publishes no numbers for its limit; this default only makes 429 reachable. */
export const MENDIX_DEFAULT_RATE_LIMIT: RateWindow = { limit: 100, windowMs: 60_000 };

export interface MendixUser {
  uuid: string;
  email: string;
  active: boolean;
}

const seedSchema = z.strictObject({
  uuid: z.uuid().optional(),
  email: z.email(),
  active: z.boolean().default(true),
});
export type MendixSeed = z.input<typeof seedSchema>;

export interface MendixSimulatorOptions extends CommonSimulatorOptions {
  /** Accepted PATs; default: one with both scopes, owned by MENDIX_SIMULATOR_CREDENTIALS.adminUuid. */
  tokens?: MendixPersonalAccessToken[];
  /** Per PAT; `false` turns it off (benchmarks). */
  rateLimit?: RateWindow | false;
}

export type MendixSimulator = SimulatorHandle<MendixUser, MendixSeed>;

const deactivationBody = z.strictObject({ active: z.literal(false) });
const uuidsBody = z.strictObject({
  emailAddresses: z.array(z.strictObject({ emailAddress: z.string().min(1) })).min(1),
});

function sendMendixError(response: Response, status: number, detail?: string): void {
  const message = status === 429 ? 'API rate limit exceeded' : (detail ?? `HTTP ${status}`);
  response.status(status).json({ message });
}

const PLATFORM_USER_PATH = /^\/v1\/platform-users\/([^/]+)$/;

export function createMendixSimulator(options: MendixSimulatorOptions = {}): MendixSimulator {
  const core = createSimulatorCore(options);
  const tokens = options.tokens ?? [
    {
      token: MENDIX_SIMULATOR_CREDENTIALS.pat,
      scopes: [MENDIX_SCOPES.deactivateUsers, MENDIX_SCOPES.readUuids],
      ownerUuid: MENDIX_SIMULATOR_CREDENTIALS.adminUuid,
    },
  ];
  const rateLimit = options.rateLimit === undefined ? MENDIX_DEFAULT_RATE_LIMIT : options.rateLimit;
  const limiter = rateLimit ? new FixedWindowRateLimiter([rateLimit], core.now) : undefined;
  const users = new Map<string, MendixUser>();
  const byEmail = (email: string) => [...users.values()].find((user) => user.email.toLowerCase() === email.toLowerCase());

  function seedUser(seed: MendixSeed): MendixUser {
    const parsed = seedSchema.parse(seed);
    const clash = byEmail(parsed.email);
    if (clash && clash.uuid !== parsed.uuid) throw new SimulatorSeedError(`email ${parsed.email} belongs to ${clash.uuid}`);
    const user: MendixUser = { uuid: parsed.uuid ?? randomUUID(), email: parsed.email, active: parsed.active };
    users.set(user.uuid, user);
    return { ...user };
  }

  const callerOf = (response: Response) => response.locals.caller as MendixPersonalAccessToken;

  // "Each request must contain an Authorization header with the value MxToken {GENERATED_PAT}".
  const authenticate: RequestHandler = (request, response, next) => {
    const [scheme, token] = (request.get('authorization') ?? '').split(' ');
    const caller = scheme === 'MxToken' ? tokens.find((candidate) => candidate.token === token) : undefined;
    if (!caller) return sendMendixError(response, 401, 'Invalid or missing personal access token');
    response.locals.caller = caller;
    next();
  };

  const rateLimited: RequestHandler = (_request, response, next) => {
    if (!limiter || limiter.take(callerOf(response).token).allowed) return next();
    sendMendixError(response, 429);
  };

  const requireScope =
    (scope: string): RequestHandler =>
    (_request, response, next) => {
      if (!callerOf(response).scopes.includes(scope)) return sendMendixError(response, 403, `The token lacks the scope ${scope}`);
      next();
    };

  const vendorRoutes = express.Router();
  vendorRoutes.use('/v1', authenticate, rateLimited);

  vendorRoutes.patch('/v1/platform-users/:uuid', requireScope(MENDIX_SCOPES.deactivateUsers), (request, response) => {
    const parsed = deactivationBody.safeParse(request.body);
    if (!parsed.success) {
      // "Only false is accepted: Mendix accounts cannot be reactivated through this API."
      return sendMendixError(response, 400, 'The request body must be {"active": false}');
    }
    const uuid = String(request.params.uuid);
    if (uuid === callerOf(response).ownerUuid) return sendMendixError(response, 403, 'You cannot deactivate yourself');
    const user = users.get(uuid);
    if (!user) return sendMendixError(response, 404, 'User not found');
    // The lying fault answers 204 and keeps the user active; Mendix documents no read to catch it.
    if (!core.faults.ignoresWrite([user.uuid, user.email])) user.active = false;
    response.status(204).end();
  });

  vendorRoutes.post('/v1/uuids', requireScope(MENDIX_SCOPES.readUuids), (request, response) => {
    const parsed = uuidsBody.safeParse(request.body);
    if (!parsed.success) return sendMendixError(response, 400, z.prettifyError(parsed.error));
    const identifiers: { emailAddress: string; uuid: string }[] = [];
    const notFound: string[] = [];
    for (const { emailAddress } of parsed.data.emailAddresses) {
      const user = byEmail(emailAddress);
      if (user) identifiers.push({ emailAddress, uuid: user.uuid });
      else notFound.push(emailAddress);
    }
    response.json({ identifiers, ...(notFound.length > 0 ? { error: { emailAddresses: notFound } } : {}) });
  });

  function accountKeysOf(request: Request): string[] {
    const uuid = PLATFORM_USER_PATH.exec(request.path)?.[1];
    const emails = uuidsBody.safeParse(request.body).data?.emailAddresses.map((entry) => entry.emailAddress) ?? [];
    const found = [uuid ? users.get(uuid) : undefined, ...emails.map(byEmail)].filter((user) => user !== undefined);
    return [...(uuid ? [uuid] : []), ...emails, ...found.flatMap((user) => [user.uuid, user.email])];
  }

  return assembleSimulator({
    core,
    ownerOf: (user) => user.email,
    seedUser,
    users: () => [...users.values()],
    forget: () => {
      users.clear();
      limiter?.reset();
    },
    accountKeysOf,
    sendError: sendMendixError,
    vendorRoutes,
  });
}
