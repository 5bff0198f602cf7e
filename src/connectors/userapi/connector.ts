// The generic user API (Weavr's authorised-users shape): the account id is an identity attribute,
// deactivate and activate are POSTs carrying the caller's idempotency-ref.
import { logger as defaultLogger } from '../../logger.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AccountNotFoundError, PermanentDownstreamError } from '../errors.js';
import { createHttpClient, retryAfterMs, vendorText, type ConnectionOptions, type HttpResponse } from '../http.js';
import { LIST_PAGE_MAX, type ActionContext, type Connector, type IdentitySnapshot, type ReactivateResult } from '../types.js';
import { isUnknownUser, userApiError } from './classify.js';

export interface UserApiConnectorConfig extends ConnectionOptions {
  baseUrl: string;
  /** Sent in the `api-key` header. */
  apiKey: string;
  /** Sent as `Authorization: Bearer <token>`. */
  authToken: string;
  /** Which identity attribute holds the user id; default externalId. */
  accountIdOf?: (identity: IdentitySnapshot) => string | null;
  /** The setting behind accountIdOf, named when a user is not found; default `USERAPI_ID_ATTRIBUTE=externalId`. */
  lookup?: string;
  /** The identity attribute accountIdOf reads, for reconciliation; default externalId. */
  lookupAttribute?: string;
}

const LIST_RATE_LIMIT_WAITS = 5;

const userAnswer = z.object({ id: z.string().min(1), active: z.boolean() });
const userListAnswer = z.object({ users: z.array(userAnswer), count: z.number().int().min(0) });

export function createUserApiConnector(config: UserApiConnectorConfig): Connector {
  const now = config.now ?? Date.now;
  const log = (config.logger ?? defaultLogger).child({ system: 'userapi' });
  const accountIdOf = config.accountIdOf ?? ((identity: IdentitySnapshot) => identity.externalId);
  const lookup = config.lookup ?? 'USERAPI_ID_ATTRIBUTE=externalId';
  const { timeoutMs, logger } = config;
  const http = createHttpClient({
    system: 'userapi',
    vendor: 'The user API',
    baseUrl: config.baseUrl,
    baseUrlSetting: 'USERAPI_URL',
    timeoutMs,
    logger,
  });

  const authHeaders = () => ({ 'api-key': config.apiKey, Authorization: `Bearer ${config.authToken}` });

  function parseAnswer<T>(schema: z.ZodType<T>, response: HttpResponse, endpoint: string): T {
    const parsed = schema.safeParse(response.body);
    if (parsed.success) return parsed.data;
    throw new PermanentDownstreamError(`The user API answered ${endpoint} with an unexpected body: check USERAPI_URL`, { system: 'userapi', status: response.status });
  }

  /**
   * A listing runs outside a workflow's retries: over the API's limits (429 until the window
   * ends) it waits for Retry-After and asks again, a few times, rather than hammer the API.
   */
  async function withRateLimitWaits(send: () => Promise<HttpResponse>): Promise<HttpResponse> {
    for (let waits = 0; ; waits += 1) {
      const response = await send();
      if (response.status !== 429 || waits >= LIST_RATE_LIMIT_WAITS) return response;
      await sleep(Math.min(retryAfterMs(response.headers, now()) ?? 1000, 60_000));
    }
  }

  async function act(operation: 'deactivate' | 'activate', accountId: string, context: ActionContext) {
    return http.request({
      method: 'POST',
      path: `/v1/users/${encodeURIComponent(accountId)}/${operation}`,
      headers: {
        ...authHeaders(),
        // Stable across retries: a repeat replays the first result instead of acting twice.
        'idempotency-ref': context.idempotencyKey,
      },
    });
  }

  return {
    system: 'userapi',
    lookup,
    lookupAttribute: config.accountIdOf ? config.lookupAttribute : 'externalId',
    // One count per API key for every request (seeds/README.md); the lookup makes no call.
    rateLimitCounts: { lookup: null, read: 'api-key', write: 'api-key', list: 'api-key' },

    // No lookup call: the API addresses users by an id jml already holds as an identity attribute.
    resolveAccount(identity) {
      return Promise.resolve(accountIdOf(identity)?.trim() || null);
    },

    lookupValueOf: (identity) => accountIdOf(identity)?.trim() || null,

    // GET /v1/users/{user_id}: the user resource, with `active`.
    async readAccount(accountId) {
      const response = await http.request({ method: 'GET', path: `/v1/users/${encodeURIComponent(accountId)}`, headers: authHeaders() });
      if (isUnknownUser(response)) return null;
      if (response.status !== 200) throw userApiError(response, 'read', now());
      return { accountId, active: parseAnswer(userAnswer, response, 'GET /v1/users/{id}').active };
    },

    // GET /v1/users?offset=&limit=: {users, count (the total), responseCount}.
    async *listAccounts(options = {}) {
      const limit = Math.min(options.pageSize ?? LIST_PAGE_MAX, LIST_PAGE_MAX);
      for (let offset = 0; ; ) {
        const response = await withRateLimitWaits(() =>
          http.request({ method: 'GET', path: `/v1/users?${new URLSearchParams({ offset: String(offset), limit: String(limit) }).toString()}`, headers: authHeaders() }),
        );
        if (response.status !== 200) throw userApiError(response, 'list', now());
        const page = parseAnswer(userListAnswer, response, 'GET /v1/users');
        options.onTotal?.(page.count);
        if (page.users.length === 0) return;
        yield page.users.map((user) => ({ accountId: user.id, active: user.active, keys: [user.id] }));
        offset += page.users.length;
        if (offset >= page.count) return;
      }
    },

    // The API answers 204 for a user who is already deactivated, so a repeat is a success.
    async deactivate(accountId, context) {
      const response = await act('deactivate', accountId, context);
      if (response.status >= 200 && response.status <= 299) return;
      if (isUnknownUser(response)) {
        // Not a success: nothing was deactivated, and a wrong USERAPI_ID_ATTRIBUTE looks just like this.
        log.warn({ accountId, lookup }, 'user API has no such user');
        throw new AccountNotFoundError({ system: 'userapi', accountId, lookup, vendorMessage: vendorText(response.body, ['message', 'code']) });
      }
      throw userApiError(response, 'deactivate', now());
    },

    async reactivate(accountId, context): Promise<ReactivateResult> {
      const response = await act('activate', accountId, context);
      if (response.status >= 200 && response.status <= 299) return 'reactivated';
      if (isUnknownUser(response)) {
        throw new AccountNotFoundError({ system: 'userapi', accountId, lookup, vendorMessage: vendorText(response.body, ['message', 'code']) });
      }
      throw userApiError(response, 'activate', now());
    },
  };
}
