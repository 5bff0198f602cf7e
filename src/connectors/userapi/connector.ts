// The generic user API (Weavr's authorised-users shape): the account id is an identity attribute,
// deactivate and activate are POSTs carrying the caller's idempotency-ref.
import { logger as defaultLogger } from '../../logger.js';
import { createHttpClient, type ConnectionOptions } from '../http.js';
import type { ActionContext, Connector, IdentitySnapshot, ReactivateResult } from '../types.js';
import { isUnknownUser, userApiError } from './classify.js';

export interface UserApiConnectorConfig extends ConnectionOptions {
  baseUrl: string;
  /** Sent in the `api-key` header. */
  apiKey: string;
  /** Sent as `Authorization: Bearer <token>`. */
  authToken: string;
  /** Which identity attribute holds the user id; default externalId. */
  accountIdOf?: (identity: IdentitySnapshot) => string | null;
}

export function createUserApiConnector(config: UserApiConnectorConfig): Connector {
  const now = config.now ?? Date.now;
  const log = (config.logger ?? defaultLogger).child({ system: 'userapi' });
  const accountIdOf = config.accountIdOf ?? ((identity: IdentitySnapshot) => identity.externalId);
  const { timeoutMs, fetch, logger } = config;
  const http = createHttpClient({
    system: 'userapi',
    vendor: 'The user API',
    baseUrl: config.baseUrl,
    baseUrlSetting: 'USERAPI_URL',
    timeoutMs,
    fetch,
    logger,
  });

  async function act(operation: 'deactivate' | 'activate', accountId: string, context: ActionContext) {
    return http.request({
      method: 'POST',
      path: `/v1/users/${encodeURIComponent(accountId)}/${operation}`,
      headers: {
        'api-key': config.apiKey,
        Authorization: `Bearer ${config.authToken}`,
        // Stable across retries: a repeat replays the first result instead of acting twice.
        'idempotency-ref': context.idempotencyKey,
      },
    });
  }

  return {
    system: 'userapi',

    // No lookup call: the API addresses users by an id jml already holds as an identity attribute.
    resolveAccount(identity) {
      return Promise.resolve(accountIdOf(identity)?.trim() || null);
    },

    // The API answers 204 for a user who is already deactivated, so a repeat is a success.
    async deactivate(accountId, context) {
      const response = await act('deactivate', accountId, context);
      if (response.status >= 200 && response.status <= 299) return;
      if (isUnknownUser(response)) {
        log.info({ accountId }, 'user API has no such user; nothing to deactivate');
        return;
      }
      throw userApiError(response, 'deactivate', now());
    },

    async reactivate(accountId, context): Promise<ReactivateResult> {
      const response = await act('activate', accountId, context);
      if (response.status >= 200 && response.status <= 299) return 'reactivated';
      throw userApiError(response, 'activate', now());
    },
  };
}
