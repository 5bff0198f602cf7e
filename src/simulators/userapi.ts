// Generic user API simulator, shaped like Weavr's authorised-users API
// (seeds/generic-user-api-deactivate.txt and seeds/README.md): deactivate/activate by user id,
// `api-key` + bearer auth, idempotency-ref semantics and three rate-limit windows. The read
// (`GET /v1/users/{user_id}`) and the paged list (`GET /v1/users?offset=&limit=`, answering
// `{users, count, responseCount}`) follow Weavr's authorised-users reference, which the seed leaves out.
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { FixedWindowRateLimiter, type RateWindow } from './rate-limit.js';
import { assembleSimulator, createSimulatorCore, type CommonSimulatorOptions, type SimulatorHandle } from './simulator.js';

export interface UserApiCredentials {
  apiKey: string;
  authToken: string;
}

export const USERAPI_SIMULATOR_CREDENTIALS: UserApiCredentials = {
  apiKey: 'sim-userapi-api-key',
  authToken: 'sim-userapi-auth-token',
};

/** "100 requests per minute, 1,000 per hour, 10,000 per day" (seeds/README.md). */
export const USERAPI_DEFAULT_RATE_LIMITS: readonly RateWindow[] = [
  { limit: 100, windowMs: 60_000 },
  { limit: 1_000, windowMs: 3_600_000 },
  { limit: 10_000, windowMs: 86_400_000 },
];

/** "Idempotency reference uniqueness is maintained for at least 24 hours." */
export const IDEMPOTENCY_RETENTION_MS = 86_400_000;

export interface UserApiUser {
  id: string;
  active: boolean;
  email?: string;
}

/** Weavr's list endpoints answer at most 100 entries a page. */
export const USERAPI_LIST_MAX_LIMIT = 100;

export type UserApiAction = 'deactivate' | 'activate';

/** A state change the simulator actually performed (replays and refusals are not actions). */
export interface PerformedAction {
  userId: string;
  action: UserApiAction;
  idempotencyRef: string | null;
  at: number;
}

const seedSchema = z.strictObject({
  id: z.string().min(1),
  active: z.boolean().default(true),
  /** Not part of the vendor's record (its users are bare ids): who the account is for, for /_sim/users. */
  owner: z.string().min(1).optional(),
  email: z.string().min(1).optional(),
});
export type UserApiSeed = z.input<typeof seedSchema>;

export interface UserApiSimulatorOptions extends CommonSimulatorOptions {
  credentials?: UserApiCredentials;
  /** Role of the calling credentials; anything but ADMIN gets 403 INSUFFICIENT_PERMISSIONS. */
  role?: string;
  /** Per API key; `false` turns them off (benchmarks). */
  rateLimits?: readonly RateWindow[] | false;
}

export interface ActionHold {
  /** Resolves once a held action has claimed its idempotency-ref and is waiting. */
  reached: Promise<void>;
  release(): void;
}

export interface UserApiSimulator extends SimulatorHandle<UserApiUser, UserApiSeed> {
  actions(): PerformedAction[];
  /** Keeps the next action in flight until released, to exercise 409 IDEMPOTENT_REQUEST_IN_PROGRESS. */
  holdNextAction(): ActionHold;
}

type Outcome = { status: 204 } | { status: 404; body: { code: string; message: string } };
type IdempotencyRecord = { state: 'in-flight' } | { state: 'completed'; outcome: Outcome; expiresAt: number };

// Statuses the document lists without fields get no body; the others get their documented shape.
function sendUserApiError(response: Response, status: number, detail?: string): void {
  if (status === 403) {
    response.status(403).json({ errorCode: 'INSUFFICIENT_PERMISSIONS' });
  } else if (status === 409) {
    response.status(409).json({ errorCode: 'IDEMPOTENT_REQUEST_IN_PROGRESS' });
  } else if (status === 400) {
    response.status(400).json({ message: detail ?? 'Bad request' });
  } else if ([401, 413, 422, 429, 500, 503].includes(status)) {
    response.status(status).end();
  } else {
    response.status(status).json({ code: String(status), message: detail ?? `HTTP ${status}` });
  }
}

function sendOutcome(response: Response, outcome: Outcome): void {
  if (outcome.status === 204) response.status(204).end();
  else response.status(outcome.status).json(outcome.body);
}

const USER_ACTION_PATH = /^\/v1\/users\/([^/]+)\/(?:de)?activate$/;
const USER_READ_PATH = /^\/v1\/users\/([^/]+)$/;

export function createUserApiSimulator(options: UserApiSimulatorOptions = {}): UserApiSimulator {
  const core = createSimulatorCore(options);
  const credentials = options.credentials ?? USERAPI_SIMULATOR_CREDENTIALS;
  const role = options.role ?? 'ADMIN';
  const rateLimits = options.rateLimits === undefined ? USERAPI_DEFAULT_RATE_LIMITS : options.rateLimits;
  const limiter = rateLimits ? new FixedWindowRateLimiter(rateLimits, core.now) : undefined;
  const users = new Map<string, UserApiUser>();
  /** Whose account each id is (seeded by jml's demo mode): the vendor itself does not know. */
  const owners = new Map<string, string>();
  /** Ids in creation order: the list pages through them. */
  let order: string[] = [];
  const idempotency = new Map<string, IdempotencyRecord>();
  let performed: PerformedAction[] = [];
  let hold: { reached: () => void; released: Promise<void> } | undefined;

  function seedUser(seed: UserApiSeed): UserApiUser {
    const { owner, ...user } = seedSchema.parse(seed);
    if (!users.has(user.id)) order.push(user.id);
    users.set(user.id, user);
    if (owner) owners.set(user.id, owner);
    return { ...user };
  }

  const authenticate: RequestHandler = (request, response, next) => {
    const bearer = /^Bearer (.+)$/.exec(request.get('authorization') ?? '')?.[1];
    if (request.get('api-key') !== credentials.apiKey || bearer !== credentials.authToken) return sendUserApiError(response, 401);
    if (role !== 'ADMIN') return sendUserApiError(response, 403);
    next();
  };

  // "429 until the window ends": Retry-After names the end of the fullest window, in seconds.
  const rateLimited: RequestHandler = (request, response, next) => {
    if (!limiter) return next();
    const decision = limiter.take(request.get('api-key') ?? '');
    if (decision.allowed) return next();
    response.set('Retry-After', String(Math.max(1, Math.ceil((decision.retryAt - core.now()) / 1000))));
    sendUserApiError(response, 429);
  };

  function perform(userId: string, action: UserApiAction, idempotencyRef: string | null): Outcome {
    const user = users.get(userId);
    if (!user) return { status: 404, body: { code: 'USER_NOT_FOUND', message: `No user with id ${userId}` } };
    // Deactivating a deactivated user (or activating an active one) is a success that changes nothing.
    const active = action === 'activate';
    // The lying fault: 204 as documented, and the user left as it was.
    if (core.faults.ignoresWrite([userId])) return { status: 204 };
    if (user.active !== active) {
      user.active = active;
      performed.push({ userId, action, idempotencyRef, at: core.now() });
    }
    return { status: 204 };
  }

  const userAction =
    (action: UserApiAction): RequestHandler =>
    async (request, response) => {
      const userId = String(request.params.id);
      const ref = request.get('idempotency-ref') || null;
      // The reference is unique per caller and, per the document, tied to the operation itself.
      const key = ref === null ? undefined : `${request.get('api-key')}\n${action} ${userId}\n${ref}`;
      if (key !== undefined) {
        const record = idempotency.get(key);
        if (record?.state === 'in-flight') return sendUserApiError(response, 409);
        if (record?.state === 'completed' && record.expiresAt > core.now()) return sendOutcome(response, record.outcome);
        idempotency.set(key, { state: 'in-flight' });
      }
      try {
        if (hold) {
          const { reached, released } = hold;
          hold = undefined;
          reached();
          await released;
        }
        const outcome = perform(userId, action, ref);
        if (key !== undefined) idempotency.set(key, { state: 'completed', outcome, expiresAt: core.now() + IDEMPOTENCY_RETENTION_MS });
        sendOutcome(response, outcome);
      } catch (error) {
        if (key !== undefined) idempotency.delete(key);
        throw error;
      }
    };

  const vendorRoutes = express.Router();
  vendorRoutes.use('/v1', authenticate, rateLimited);
  vendorRoutes.post('/v1/users/:id/deactivate', userAction('deactivate'));
  vendorRoutes.post('/v1/users/:id/activate', userAction('activate'));
  vendorRoutes.get('/v1/users/:id', (request, response) => {
    const user = users.get(String(request.params.id));
    if (!user) return sendOutcome(response, { status: 404, body: { code: 'USER_NOT_FOUND', message: `No user with id ${String(request.params.id)}` } });
    response.json({ ...user });
  });
  vendorRoutes.get('/v1/users', (request, response) => {
    const offset = Number(request.query.offset ?? '0');
    const limit = Number(request.query.limit ?? String(USERAPI_LIST_MAX_LIMIT));
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > USERAPI_LIST_MAX_LIMIT) {
      return sendUserApiError(response, 400, `offset must be 0 or more and limit 1 to ${USERAPI_LIST_MAX_LIMIT}`);
    }
    const page = order.slice(offset, offset + limit).map((id) => ({ ...users.get(id)! }));
    response.json({ users: page, count: order.length, responseCount: page.length });
  });

  function accountKeysOf(request: Request): string[] {
    const userId = (USER_ACTION_PATH.exec(request.path) ?? USER_READ_PATH.exec(request.path))?.[1];
    return userId ? [decodeURIComponent(userId)] : [];
  }

  const simulator = assembleSimulator({
    core,
    ownerOf: (user) => owners.get(user.id) ?? null,
    seedUser,
    users: () => [...users.values()],
    forget: () => {
      users.clear();
      owners.clear();
      order = [];
      idempotency.clear();
      performed = [];
      limiter?.reset();
    },
    accountKeysOf,
    sendError: sendUserApiError,
    // An unknown path is the web server's 404, not the API's documented {code, message}: the
    // connector must not mistake a wrong base URL for a user who no longer exists.
    sendRouteNotFound: (response) => {
      response.status(404).type('text/plain').send('Not Found');
    },
    vendorRoutes,
  });

  return {
    ...simulator,
    actions: () => performed.map((entry) => ({ ...entry })),
    holdNextAction: () => {
      let reached!: () => void;
      let release!: () => void;
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      hold = { reached, released };
      return { reached: reachedPromise, release };
    },
  };
}
