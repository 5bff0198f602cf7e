// What every simulator shares: the control routes under `<prefix>/_sim`, the call log, fault
// injection, a size-limited JSON body parser and vendor-shaped answers for unknown routes and
// unreadable bodies. Each vendor file adds only its own routes, auth and rules.
import express, { type ErrorRequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import { CallLog, type RecordedCall } from './call-log.js';
import { systemClock, type Clock } from './clock.js';
import { FaultInjector, type AccountKeysOf, type FaultSettings, type SendVendorError } from './faults.js';

export interface CommonSimulatorOptions {
  /** The simulator's clock; tests pass one they can move. */
  now?: Clock;
  /** Source of randomness for the error-rate fault and generated ids. */
  random?: () => number;
  /** Largest JSON body accepted (body-parser syntax); larger bodies get 413. */
  bodyLimit?: string | number;
}

export const DEFAULT_BODY_LIMIT = '64kb';

/** A seed that contradicts the simulator's state (a taken username, a room member who does not exist). */
export class SimulatorSeedError extends Error {
  override readonly name = 'SimulatorSeedError';
}

/** The surface every simulator offers to tests, the demo mode and benchmarks. */
export interface SimulatorHandle<User, Seed> {
  readonly router: Router;
  seedUser(seed: Seed): User;
  users(): User[];
  calls(): RecordedCall[];
  setFaults(faults: FaultSettings): void;
  /** Calls the hang fault holds open right now. */
  heldCalls(): number;
  /** Forgets users, calls, faults and counters. */
  reset(): void;
}

export interface SimulatorCore {
  now: Clock;
  random: () => number;
  callLog: CallLog;
  faults: FaultInjector;
  bodyLimit: string | number;
  /** The handle methods that work the same for every vendor. */
  calls(): RecordedCall[];
  setFaults(faults: FaultSettings): void;
  /** Forgets calls and faults; each vendor forgets its own state besides. */
  reset(): void;
}

export function createSimulatorCore(options: CommonSimulatorOptions): SimulatorCore {
  const now = options.now ?? systemClock;
  const random = options.random ?? Math.random;
  const callLog = new CallLog(now);
  const faults = new FaultInjector(now, random);
  return {
    now,
    random,
    callLog,
    faults,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    calls: () => callLog.list(),
    setFaults: (settings) => faults.set(settings),
    reset: () => {
      callLog.clear();
      faults.clear();
    },
  };
}

export interface SimulatorParts<User extends { active: boolean }, Seed> {
  core: SimulatorCore;
  /** Whose account this is, for a person watching the demo (user name or email), when known. */
  ownerOf(user: User): string | null;
  /** Validates and stores one user (from code or `POST /_sim/users`). */
  seedUser(seed: Seed): User;
  /** The live user records; handed out as copies. */
  users(): User[];
  /** Forgets the vendor's own state (users, counters); calls and faults are forgotten here. */
  forget(): void;
  accountKeysOf: AccountKeysOf;
  sendError: SendVendorError;
  /** How the vendor answers a path it does not serve; default: its error shape with 404. */
  sendRouteNotFound?: (response: Response) => void;
  vendorRoutes: Router;
  /** Further control routes of one vendor, mounted under `/_sim`. */
  controlRoutes?: Router;
}

function statusOf(error: unknown): number {
  if (typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number') {
    return error.status;
  }
  return 500;
}

/** Puts one vendor's routes and state behind the shared control routes, call log and faults. */
export function assembleSimulator<User extends { active: boolean }, Seed>(parts: SimulatorParts<User, Seed>): SimulatorHandle<User, Seed> {
  const { core } = parts;
  const users = () => structuredClone(parts.users());
  const reset = () => {
    parts.forget();
    core.reset();
  };
  return {
    router: simulatorRouter(parts, users, reset),
    seedUser: parts.seedUser,
    users,
    calls: core.calls,
    setFaults: core.setFaults,
    heldCalls: () => core.faults.heldCalls(),
    reset,
  };
}

function simulatorRouter<User extends { active: boolean }, Seed>(parts: SimulatorParts<User, Seed>, users: () => User[], reset: () => void): Router {
  const { core } = parts;
  const router = express.Router();
  router.use(core.callLog.middleware());
  router.use(express.json({ limit: core.bodyLimit }));

  const control = express.Router();
  // For people, not connectors: whose account it is and its state first, the vendor's record after.
  control.get('/users', (_request, response) => {
    response.json(users().map((account) => ({ owner: parts.ownerOf(account), state: account.active ? 'active' : 'deactivated', account })));
  });
  control.post('/users', (request, response) => {
    const body: unknown = request.body;
    // Each simulator validates its seeds with zod; a bad one is a 400 below.
    const created = Array.isArray(body) ? body.map((seed) => parts.seedUser(seed as Seed)) : parts.seedUser(body as Seed);
    response.status(201).json(created);
  });
  control.get('/calls', (_request, response) => {
    response.json(core.callLog.list());
  });
  control.get('/faults', (_request, response) => {
    response.json(core.faults.current());
  });
  control.post('/faults', (request, response) => {
    core.faults.set(request.body as FaultSettings);
    response.json(core.faults.current());
  });
  control.post('/reset', (_request, response) => {
    reset();
    response.status(204).end();
  });
  if (parts.controlRoutes) control.use(parts.controlRoutes);
  const controlErrors: ErrorRequestHandler = (error: unknown, _request, response, next) => {
    if (error instanceof z.ZodError) {
      response.status(400).json({ error: z.prettifyError(error) });
      return;
    }
    if (error instanceof SimulatorSeedError) {
      response.status(400).json({ error: error.message });
      return;
    }
    next(error);
  };
  control.use(controlErrors);
  router.use('/_sim', control);

  router.use(core.faults.middleware(parts.accountKeysOf, parts.sendError));
  router.use(parts.vendorRoutes);
  router.use((request, response) => {
    if (parts.sendRouteNotFound) parts.sendRouteNotFound(response);
    else parts.sendError(response, 404, `no route ${request.method} ${request.path}`);
  });
  // Unreadable or oversized bodies (body-parser sets `status`: 400, 413) in the vendor's shape.
  const vendorErrors: ErrorRequestHandler = (error: unknown, _request, response, _next) => {
    const status = statusOf(error);
    parts.sendError(response, status >= 400 && status < 600 ? status : 500, error instanceof Error ? error.message : undefined);
  };
  router.use(vendorErrors);
  return router;
}

/** A Meteor-style random id (17 characters), as Rocket.Chat `_id`s look. */
export function randomId(random: () => number, length = 17): string {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz';
  let id = '';
  for (let i = 0; i < length; i += 1) id += alphabet[Math.floor(random() * alphabet.length)];
  return id;
}
