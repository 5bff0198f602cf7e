// Rocket.Chat simulator: users.info, users.list, users.setActiveStatus and users.deactivateIdle as
// documented in seeds/rocketchat-users-*.md and seeds/README.md (users.list from Rocket.Chat's
// REST reference: `offset`/`count` paging, at most 100 a page by default), with the REST rate
// limiter and the last-owner rule that `confirmRelinquish` exists for.
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { FixedWindowRateLimiter, type RateWindow } from './rate-limit.js';
import {
  assembleSimulator,
  createSimulatorCore,
  randomId,
  SimulatorSeedError,
  type CommonSimulatorOptions,
  type SimulatorHandle,
} from './simulator.js';

export interface RocketChatCredentials {
  userId: string;
  authToken: string;
}

export const ROCKETCHAT_SIMULATOR_CREDENTIALS: RocketChatCredentials = {
  userId: 'simAdminUserId01',
  authToken: 'sim-rocketchat-personal-access-token',
};

/** Rocket.Chat's default: 10 calls per 60,000 ms per endpoint and client (seeds/README.md). */
export const ROCKETCHAT_DEFAULT_RATE_LIMIT: RateWindow = { limit: 10, windowMs: 60_000 };

/** What the calling account may do by default: change other users' active status. */
export const ROCKETCHAT_DEFAULT_PERMISSIONS = ['edit-other-user-active-status'] as const;

const DAY_MS = 86_400_000;

/** Rocket.Chat's API_Default_Count and API_Upper_Count_Limit settings, at their defaults. */
export const ROCKETCHAT_LIST_DEFAULT_COUNT = 50;
export const ROCKETCHAT_LIST_MAX_COUNT = 100;

export interface RocketChatUser {
  _id: string;
  username: string;
  name?: string;
  emails: { address: string; verified: boolean }[];
  active: boolean;
  roles: string[];
  /** ISO 8601, or null when the user never logged in. */
  lastLogin: string | null;
  type: 'user';
}

export interface RocketChatRoom {
  _id: string;
  name: string;
  /** User ids holding the owner role. */
  owners: string[];
  /** User ids, oldest member first (the oldest becomes owner when the last owner relinquishes). */
  members: string[];
}

const seedSchema = z.strictObject({
  _id: z.string().min(1).optional(),
  username: z.string().min(1),
  name: z.string().optional(),
  email: z.string().min(1).optional(),
  emails: z.array(z.object({ address: z.string().min(1), verified: z.boolean().default(true) })).optional(),
  active: z.boolean().default(true),
  roles: z.array(z.string()).default(['user']),
  /** ISO 8601 or epoch ms; omitted or null: never logged in. */
  lastLogin: z.union([z.iso.datetime({ offset: true }), z.number().int(), z.null()]).optional(),
});
export type RocketChatSeed = z.input<typeof seedSchema>;

const roomSeedSchema = z.strictObject({
  _id: z.string().min(1).optional(),
  name: z.string().min(1),
  /** User ids or usernames. */
  owners: z.array(z.string().min(1)).min(1),
  /** User ids or usernames, oldest first; owners are members too. */
  members: z.array(z.string().min(1)).default([]),
});
export type RocketChatRoomSeed = z.input<typeof roomSeedSchema>;

export interface RocketChatSimulatorOptions extends CommonSimulatorOptions {
  credentials?: RocketChatCredentials;
  /** Permissions of the calling account; add `api-bypass-rate-limit` to exempt it from the limiter. */
  permissions?: readonly string[];
  /** The REST rate limiter; `false` turns it off (benchmarks). */
  rateLimit?: RateWindow | false;
}

export interface RocketChatSimulator extends SimulatorHandle<RocketChatUser, RocketChatSeed> {
  seedRoom(seed: RocketChatRoomSeed): RocketChatRoom;
  rooms(): RocketChatRoom[];
}

function queryValue(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Rocket.Chat validates bodies with ajv; its messages read "must have required property 'x' [invalid-params]". */
function invalidParams(error: z.ZodError): string {
  const issue = error.issues[0];
  const field = String(issue?.path[0] ?? '');
  const missing = issue?.code === 'invalid_type' && issue.input === undefined;
  return missing ? `must have required property '${field}' [invalid-params]` : `${field} ${issue?.message ?? 'is invalid'} [invalid-params]`;
}

const setActiveStatusBody = z.object({
  userId: z.string(),
  activeStatus: z.boolean(),
  confirmRelinquish: z.boolean().optional(),
});

const deactivateIdleBody = z.object({
  daysIdle: z.number().int().min(0),
  role: z.string().default('user'),
});

function sendRocketChatError(response: Response, status: number, detail?: string): void {
  if (status === 401) {
    response.status(401).json({ status: 'error', message: 'You must be logged in to do this.' });
    return;
  }
  if (status === 403) {
    response.status(403).json({ success: false, error: 'unauthorized' });
    return;
  }
  if (status === 429) {
    response.status(429).json({ success: false, error: tooManyRequests(60) });
    return;
  }
  response.status(status).json({ success: false, error: detail ?? `HTTP ${status}` });
}

function tooManyRequests(seconds: number): string {
  return `Error, too many requests. Please slow down. You must wait ${seconds} seconds before trying this endpoint again. [error-too-many-requests]`;
}

export function createRocketChatSimulator(options: RocketChatSimulatorOptions = {}): RocketChatSimulator {
  const core = createSimulatorCore(options);
  const credentials = options.credentials ?? ROCKETCHAT_SIMULATOR_CREDENTIALS;
  const permissions = new Set(options.permissions ?? ROCKETCHAT_DEFAULT_PERMISSIONS);
  const rateLimit = options.rateLimit === undefined ? ROCKETCHAT_DEFAULT_RATE_LIMIT : options.rateLimit;
  const limiter = rateLimit ? new FixedWindowRateLimiter([rateLimit], core.now) : undefined;
  const users = new Map<string, RocketChatUser>();
  const rooms = new Map<string, RocketChatRoom>();
  // Indexes, so that a workspace of 100,000 users (the reconciliation benchmark) seeds and answers quickly.
  const idsByUsername = new Map<string, string>();
  const idsByEmail = new Map<string, string>();
  /** User ids in the order they were created: users.list pages through them. */
  let order: string[] = [];

  const byUsername = (username: string) => {
    const id = idsByUsername.get(username);
    return id === undefined ? undefined : users.get(id);
  };
  const byEmail = (email: string) => {
    const id = idsByEmail.get(email.toLowerCase());
    return id === undefined ? undefined : users.get(id);
  };
  const byIdOrUsername = (key: string) => users.get(key) ?? byUsername(key);

  function seedUser(seed: RocketChatSeed): RocketChatUser {
    const parsed = seedSchema.parse(seed);
    const emails = parsed.emails ?? (parsed.email ? [{ address: parsed.email, verified: true }] : []);
    const lastLogin = typeof parsed.lastLogin === 'number' ? new Date(parsed.lastLogin).toISOString() : (parsed.lastLogin ?? null);
    const user: RocketChatUser = {
      _id: parsed._id ?? randomId(core.random),
      username: parsed.username,
      ...(parsed.name ? { name: parsed.name } : {}),
      emails,
      active: parsed.active,
      roles: parsed.roles,
      lastLogin,
      type: 'user',
    };
    const clash = byUsername(user.username);
    if (clash && clash._id !== user._id) throw new SimulatorSeedError(`username ${user.username} is taken by ${clash._id}`);
    const previous = users.get(user._id);
    if (previous) {
      idsByUsername.delete(previous.username);
      for (const entry of previous.emails) idsByEmail.delete(entry.address.toLowerCase());
    } else {
      order.push(user._id);
    }
    users.set(user._id, user);
    idsByUsername.set(user.username, user._id);
    for (const entry of user.emails) idsByEmail.set(entry.address.toLowerCase(), user._id);
    return structuredClone(user);
  }

  function seedRoom(seed: RocketChatRoomSeed): RocketChatRoom {
    const parsed = roomSeedSchema.parse(seed);
    const idOf = (key: string) => {
      const user = byIdOrUsername(key);
      if (!user) throw new SimulatorSeedError(`room ${parsed.name}: no user ${key}`);
      return user._id;
    };
    const owners = parsed.owners.map(idOf);
    const members = [...new Set([...owners, ...parsed.members.map(idOf)])];
    const room: RocketChatRoom = { _id: parsed._id ?? randomId(core.random), name: parsed.name, owners, members };
    rooms.set(room._id, room);
    return structuredClone(room);
  }

  /** Rooms the user alone owns: someone else must take them over, or they go (getUserSingleOwnedRooms). */
  function singleOwnedRooms(userId: string) {
    const owned = [...rooms.values()].filter((room) => room.owners.length === 1 && room.owners[0] === userId);
    return {
      shouldChangeOwner: owned.filter((room) => room.members.some((member) => member !== userId)),
      shouldBeRemoved: owned.filter((room) => room.members.every((member) => member === userId)),
    };
  }

  function relinquish(userId: string): void {
    const { shouldChangeOwner, shouldBeRemoved } = singleOwnedRooms(userId);
    for (const room of shouldChangeOwner) {
      // "the oldest member of that room will be chosen as the new owner" (setActiveStatus docs)
      room.owners = [room.members.find((member) => member !== userId)!];
    }
    for (const room of shouldBeRemoved) rooms.delete(room._id);
  }

  const authenticate: RequestHandler = (request, response, next) => {
    const userId = request.get('x-user-id');
    const authToken = request.get('x-auth-token');
    if (userId !== credentials.userId || authToken !== credentials.authToken) return sendRocketChatError(response, 401);
    next();
  };

  // Per client IP and route (seeds/README.md); reset is epoch ms, and there is no Retry-After.
  const rateLimited: RequestHandler = (request, response, next) => {
    if (!limiter || permissions.has('api-bypass-rate-limit')) return next();
    const decision = limiter.take(`${request.ip ?? ''} ${request.path}`);
    const window = decision.windows[0]!;
    response.set({
      'X-RateLimit-Limit': String(window.limit),
      'X-RateLimit-Remaining': String(window.remaining),
      'X-RateLimit-Reset': String(window.resetAt),
    });
    if (decision.allowed) return next();
    const seconds = Math.ceil((decision.retryAt - core.now()) / 1000);
    response.status(429).json({ success: false, error: tooManyRequests(seconds) });
  };

  const requirePermission =
    (...anyOf: string[]): RequestHandler =>
    (_request, response, next) => {
      if (!anyOf.some((permission) => permissions.has(permission))) return sendRocketChatError(response, 403);
      next();
    };

  const api = express.Router();
  api.use(authenticate, rateLimited);

  api.get('/users.info', (request, response) => {
    const { userId, username, importId, email } = request.query;
    const terms = [userId, username, importId, email].map(queryValue).filter((term) => term !== undefined);
    if (terms.length !== 1) {
      response.status(400).json({ success: false, error: 'Invalid search query.' });
      return;
    }
    const user =
      (queryValue(userId) && users.get(queryValue(userId)!)) ||
      (queryValue(username) && byUsername(queryValue(username)!)) ||
      (queryValue(email) && byEmail(queryValue(email)!)) ||
      undefined;
    if (!user) {
      response.status(400).json({ success: false, error: 'User not found.' });
      return;
    }
    response.json({ user, success: true });
  });

  // GET users.list?offset=&count=: {users, count, offset, total, success}. count=0 would ask for
  // every user; Rocket.Chat caps a page at API_Upper_Count_Limit (100) all the same.
  api.get('/users.list', (request, response) => {
    const offset = Number(queryValue(request.query.offset) ?? '0');
    const requested = Number(queryValue(request.query.count) ?? String(ROCKETCHAT_LIST_DEFAULT_COUNT));
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(requested) || requested < 0) {
      response.status(400).json({ success: false, error: 'Invalid offset or count [error-invalid-params]', errorType: 'error-invalid-params' });
      return;
    }
    const count = Math.min(requested === 0 ? ROCKETCHAT_LIST_MAX_COUNT : requested, ROCKETCHAT_LIST_MAX_COUNT);
    const page = order.slice(offset, offset + count).map((id) => users.get(id)!);
    response.json({ users: page, count: page.length, offset, total: order.length, success: true });
  });

  api.post(
    '/users.setActiveStatus',
    requirePermission('edit-other-user-active-status', 'manage-moderation-actions'),
    (request, response) => {
      const parsed = setActiveStatusBody.safeParse(request.body ?? {});
      if (!parsed.success) {
        response.status(400).json({ success: false, error: invalidParams(parsed.error), errorType: 'invalid-params' });
        return;
      }
      const { userId, activeStatus, confirmRelinquish } = parsed.data;
      const user = users.get(userId);
      if (!user) {
        response.status(400).json({ success: false, error: 'User not found' });
        return;
      }
      if (!activeStatus) {
        const blocking = singleOwnedRooms(userId);
        if ((blocking.shouldChangeOwner.length > 0 || blocking.shouldBeRemoved.length > 0) && confirmRelinquish !== true) {
          response.status(400).json({
            success: false,
            error: '[user-last-owner]',
            errorType: 'user-last-owner',
            details: {
              shouldChangeOwner: blocking.shouldChangeOwner.map((room) => room.name),
              shouldBeRemoved: blocking.shouldBeRemoved.map((room) => room.name),
            },
          });
          return;
        }
        relinquish(userId);
      }
      // The lying fault: the documented answer with the requested state, and nothing changed.
      if (core.faults.ignoresWrite([user._id, user.username, ...user.emails.map((entry) => entry.address)])) {
        response.json({ user: { _id: user._id, active: activeStatus }, success: true });
        return;
      }
      user.active = activeStatus;
      response.json({ user: { _id: user._id, active: user.active }, success: true });
    },
  );

  api.post('/users.deactivateIdle', requirePermission('edit-other-user-active-status'), (request, response) => {
    const parsed = deactivateIdleBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      response.status(400).json({ success: false, error: invalidParams(parsed.error), errorType: 'invalid-params' });
      return;
    }
    const { daysIdle, role } = parsed.data;
    const loggedInBefore = core.now() - daysIdle * DAY_MS;
    // Users who never logged in are left alone, as Rocket.Chat's `lastLogin <= date` query does.
    const idle = [...users.values()].filter(
      (user) => user.active && user.roles.includes(role) && user.lastLogin !== null && Date.parse(user.lastLogin) <= loggedInBefore,
    );
    for (const user of idle) user.active = false;
    response.json({ count: idle.length, success: true });
  });

  const vendorRoutes = express.Router();
  vendorRoutes.use('/api/v1', api);

  function accountKeysOf(request: Request): string[] {
    const body: unknown = request.body;
    const bodyUserId =
      typeof body === 'object' && body !== null && 'userId' in body && typeof body.userId === 'string' ? body.userId : undefined;
    const keys = [bodyUserId, ...['userId', 'username', 'email'].map((name) => queryValue(request.query[name]))].filter(
      (key): key is string => key !== undefined,
    );
    const user = keys.map((key) => users.get(key) ?? byUsername(key) ?? byEmail(key)).find((found) => found !== undefined);
    return user ? [...keys, user._id, user.username, ...user.emails.map((entry) => entry.address)] : keys;
  }

  const controlRoutes = express.Router();
  controlRoutes.get('/rooms', (_request, response) => {
    response.json([...rooms.values()]);
  });
  controlRoutes.post('/rooms', (request, response) => {
    response.status(201).json(seedRoom(request.body as RocketChatRoomSeed));
  });

  const simulator = assembleSimulator({
    core,
    ownerOf: (user) => [user.username, user.emails[0]?.address].filter(Boolean).join(' / '),
    seedUser,
    users: () => [...users.values()],
    forget: () => {
      users.clear();
      idsByUsername.clear();
      idsByEmail.clear();
      order = [];
      rooms.clear();
      limiter?.reset();
    },
    accountKeysOf,
    sendError: sendRocketChatError,
    vendorRoutes,
    controlRoutes,
  });

  return {
    ...simulator,
    seedRoom,
    rooms: () => structuredClone([...rooms.values()]),
  };
}
