// Rocket.Chat: find the user with users.info, (de)activate with users.setActiveStatus, and
// bulk-deactivate idle users with users.deactivateIdle (seeds/rocketchat-*.md).
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { logger as defaultLogger } from '../../logger.js';
import { AccountNotFoundError, PermanentDownstreamError } from '../errors.js';
import { createHttpClient, type ConnectionOptions, type HttpResponse } from '../http.js';
import { LIST_PAGE_MAX, type ActionContext, type Connector, type IdentitySnapshot, type ReactivateResult } from '../types.js';
import { isUnknownUser, rateLimitWaitMs, rocketChatError, type RocketChatEndpoint } from './classify.js';

/** users.info takes exactly one of userId, username, importId or (8.4.0+) email. */
export type RocketChatLookupKey = 'username' | 'email' | 'userId';

export interface RocketChatConnectorConfig extends ConnectionOptions {
  baseUrl: string;
  /** X-User-Id: the id of the user who owns the personal access token. */
  userId: string;
  /** X-Auth-Token: a personal access token (they do not expire). */
  authToken: string;
  /** Which users.info parameter to search by, filled from which identity attribute; default username from userName. */
  lookup?: { key: RocketChatLookupKey; valueOf: (identity: IdentitySnapshot) => string | null; setting?: string; attribute?: string };
  /**
   * Let deactivation proceed when the user is the last owner of a room; Rocket.Chat then makes the
   * oldest member owner. Without it such a deactivation fails with `user-last-owner`. Default true.
   */
  confirmRelinquish?: boolean;
}

export interface DeactivateIdleRequest {
  daysIdle: number;
  /** Rocket.Chat's default is `user`. */
  role?: string;
}

export interface RocketChatConnector extends Connector {
  readonly system: 'rocketchat';
  /** users.deactivateIdle: deactivates users with `role` who have not logged in for `daysIdle` days. */
  deactivateIdle(request: DeactivateIdleRequest): Promise<{ count: number }>;
}

const userInfoAnswer = z.object({ user: z.object({ _id: z.string().min(1) }) });
const userStateAnswer = z.object({ user: z.object({ _id: z.string().min(1), active: z.boolean() }) });
const listedUser = z.object({
  _id: z.string().min(1),
  username: z.string().optional(),
  active: z.boolean(),
  emails: z.array(z.object({ address: z.string() })).optional(),
  // Shown to an admin (view-full-other-user-info); what users.deactivateIdle selects by.
  roles: z.array(z.string()).optional(),
  lastLogin: z.string().nullish(),
});
// GET users.list: {users, count (this page), offset, total, success}.
const userListAnswer = z.object({ users: z.array(listedUser), total: z.number().int().min(0) });
/** How often a listing waits out Rocket.Chat's limiter (X-RateLimit-Reset) before giving up. */
const LIST_RATE_LIMIT_WAITS = 5;
// The documented example sends count as a string ("1"); accept either.
const deactivateIdleAnswer = z.object({ count: z.coerce.number().int().min(0) });

export function createRocketChatConnector(config: RocketChatConnectorConfig): RocketChatConnector {
  const now = config.now ?? Date.now;
  const log = (config.logger ?? defaultLogger).child({ system: 'rocketchat' });
  const lookup = config.lookup ?? { key: 'username', valueOf: (identity: IdentitySnapshot) => identity.userName };
  const lookupSetting = lookup.setting ?? `ROCKETCHAT_LOOKUP=${lookup.key}:<attribute>`;
  const confirmRelinquish = config.confirmRelinquish ?? true;
  const { timeoutMs, logger } = config;
  const http = createHttpClient({
    system: 'rocketchat',
    vendor: 'Rocket.Chat',
    baseUrl: config.baseUrl,
    baseUrlSetting: 'ROCKETCHAT_URL',
    timeoutMs,
    logger,
  });
  const auth = { 'X-User-Id': config.userId, 'X-Auth-Token': config.authToken };

  async function call(endpoint: RocketChatEndpoint, init: { method: 'GET' | 'POST'; query?: string; json?: unknown }) {
    return http.request({ method: init.method, path: `/api/v1/${endpoint}${init.query ?? ''}`, headers: auth, json: init.json });
  }

  function parseAnswer<T>(schema: z.ZodType<T>, response: HttpResponse, endpoint: RocketChatEndpoint): T {
    const parsed = schema.safeParse(response.body);
    if (parsed.success) return parsed.data;
    throw new PermanentDownstreamError(`Rocket.Chat answered ${endpoint} with an unexpected body: check ROCKETCHAT_URL points at Rocket.Chat`, {
      system: 'rocketchat',
      status: response.status,
    });
  }

  async function setActiveStatus(accountId: string, activeStatus: boolean): Promise<'done' | 'account-gone'> {
    const response = await call('users.setActiveStatus', {
      method: 'POST',
      json: { userId: accountId, activeStatus, ...(activeStatus ? {} : { confirmRelinquish }) },
    });
    if (response.status === 200) return 'done';
    if (isUnknownUser(response)) return 'account-gone';
    throw rocketChatError(response, 'users.setActiveStatus', now());
  }

  return {
    system: 'rocketchat',
    lookup: lookupSetting,
    lookupAttribute: config.lookup ? config.lookup.attribute : 'userName',
    // Rocket.Chat counts per endpoint (seeds/README.md): the lookup and the read-back are both
    // users.info; users.list (a page's read-back by listing, decision 066) is a count of its own.
    rateLimitCounts: { lookup: 'users.info', read: 'users.info', write: 'users.setActiveStatus', list: 'users.list' },

    lookupValueOf: (identity) => lookup.valueOf(identity)?.trim() || null,

    // users.info by userId carries `active`: the read-back after setActiveStatus.
    async readAccount(accountId) {
      const response = await call('users.info', { method: 'GET', query: `?${new URLSearchParams({ userId: accountId }).toString()}` });
      if (isUnknownUser(response)) return null;
      if (response.status !== 200) throw rocketChatError(response, 'users.info', now());
      return { accountId, active: parseAnswer(userStateAnswer, response, 'users.info').user.active };
    },

    async *listAccounts(options = {}) {
      const count = Math.min(options.pageSize ?? LIST_PAGE_MAX, LIST_PAGE_MAX);
      for (let offset = 0; ; ) {
        const query = `?${new URLSearchParams({ offset: String(offset), count: String(count) }).toString()}`;
        let response = await call('users.list', { method: 'GET', query });
        // Outside a workflow's retries: wait for the limiter's window to end (10 calls a minute by
        // default), a few times, rather than give up on a listing of thousands of pages.
        for (let waits = 0; response.status === 429 && waits < LIST_RATE_LIMIT_WAITS; waits += 1) {
          await sleep(Math.min(rateLimitWaitMs(response, now()) ?? 1000, 60_000));
          response = await call('users.list', { method: 'GET', query });
        }
        if (response.status !== 200) throw rocketChatError(response, 'users.list', now());
        const page = parseAnswer(userListAnswer, response, 'users.list');
        options.onTotal?.(page.total);
        if (page.users.length === 0) return;
        yield page.users.map((user) => ({
          accountId: user._id,
          active: user.active,
          keys: lookup.key === 'userId' ? [user._id] : lookup.key === 'username' ? (user.username ? [user.username] : []) : (user.emails ?? []).map((entry) => entry.address),
          roles: user.roles,
          lastLogin: user.lastLogin,
        }));
        offset += page.users.length;
        if (offset >= page.total) return;
      }
    },

    async resolveAccount(identity) {
      const value = lookup.valueOf(identity)?.trim();
      if (!value) return null;
      const response = await call('users.info', { method: 'GET', query: `?${new URLSearchParams({ [lookup.key]: value }).toString()}` });
      if (isUnknownUser(response)) return null;
      if (response.status !== 200) throw rocketChatError(response, 'users.info', now());
      return parseAnswer(userInfoAnswer, response, 'users.info').user._id;
    },

    // Rocket.Chat answers 200 again for a user who is already inactive, so a repeat is a success.
    async deactivate(accountId: string, _context: ActionContext) {
      if ((await setActiveStatus(accountId, false)) === 'account-gone') {
        // Deleted since it was resolved, or a stale link: either way nothing was deactivated.
        log.warn({ accountId, lookup: lookupSetting }, 'Rocket.Chat user not found');
        throw new AccountNotFoundError({ system: 'rocketchat', accountId, lookup: lookupSetting, vendorMessage: 'User not found' });
      }
    },

    async reactivate(accountId: string, _context: ActionContext): Promise<ReactivateResult> {
      if ((await setActiveStatus(accountId, true)) === 'account-gone') {
        throw new AccountNotFoundError({ system: 'rocketchat', accountId, lookup: lookupSetting, vendorMessage: 'User not found' });
      }
      return 'reactivated';
    },

    async deactivateIdle({ daysIdle, role }) {
      const response = await call('users.deactivateIdle', { method: 'POST', json: { daysIdle, ...(role ? { role } : {}) } });
      if (response.status !== 200) throw rocketChatError(response, 'users.deactivateIdle', now());
      return { count: parseAnswer(deactivateIdleAnswer, response, 'users.deactivateIdle').count };
    },
  };
}
