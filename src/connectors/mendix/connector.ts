// Mendix: the uuid by email from the User Identifier API, deactivation through the User
// Deactivation API. Mendix cannot reactivate platform users through any API.
import { z } from 'zod';
import { PermanentDownstreamError } from '../errors.js';
import { createHttpClient, type ConnectionOptions } from '../http.js';
import type { ActionContext, Connector, IdentitySnapshot, ReactivateResult } from '../types.js';
import { mendixError } from './classify.js';

export interface MendixConnectorConfig extends ConnectionOptions {
  /** Base URL of the User Deactivation API (PATCH /v1/platform-users/{uuid}). */
  deactivationBaseUrl: string;
  /** Base URL of the User Identifier API (POST /v1/uuids), on a different host. */
  identifierBaseUrl: string;
  /** PAT with scope mx:user-deactivation:write, of a Mendix Admin. */
  pat: string;
  /** PAT with scope mx:mxid3:user-identifiers:uuid:read; defaults to `pat`. */
  identifierPat?: string;
  /** The email to look the uuid up by; default the identity's email. */
  emailOf?: (identity: IdentitySnapshot) => string | null;
  /** The setting behind emailOf, named when nobody is found; default `MENDIX_EMAIL_ATTRIBUTE=email`. */
  lookup?: string;
}

// {"identifiers":[{"emailAddress":...,"uuid":...}],"error":{"emailAddresses":[...not found...]}}
const uuidsAnswer = z.object({
  identifiers: z.array(z.object({ emailAddress: z.string(), uuid: z.string().min(1) })).default([]),
});

export function createMendixConnector(config: MendixConnectorConfig): Connector {
  const now = config.now ?? Date.now;
  const emailOf = config.emailOf ?? ((identity: IdentitySnapshot) => identity.email);
  const { timeoutMs, logger } = config;
  const common = { system: 'mendix', vendor: 'Mendix', timeoutMs, logger } as const;
  const deactivation = createHttpClient({ ...common, baseUrl: config.deactivationBaseUrl, baseUrlSetting: 'MENDIX_URL' });
  const identifiers = createHttpClient({ ...common, baseUrl: config.identifierBaseUrl, baseUrlSetting: 'MENDIX_IDENTIFIER_URL' });
  const authorization = (pat: string) => ({ Authorization: `MxToken ${pat}` });

  /** The User Identifier API's uuids of these addresses, by address in lower case; an unknown one is absent. */
  async function uuidsOf(emails: string[]): Promise<Map<string, string>> {
    const response = await identifiers.request({
      method: 'POST',
      path: '/v1/uuids',
      headers: authorization(config.identifierPat ?? config.pat),
      json: { emailAddresses: emails.map((emailAddress) => ({ emailAddress })) },
    });
    if (response.status !== 200) throw mendixError(response, 'user-identifiers', now());
    const parsed = uuidsAnswer.safeParse(response.body);
    if (!parsed.success) {
      throw new PermanentDownstreamError('Mendix answered /v1/uuids with an unexpected body: check MENDIX_IDENTIFIER_URL', {
        system: 'mendix',
        status: response.status,
      });
    }
    // An unknown email is listed under error.emailAddresses and missing from identifiers.
    return new Map(parsed.data.identifiers.map((entry) => [entry.emailAddress.toLowerCase(), entry.uuid]));
  }

  return {
    system: 'mendix',
    lookup: config.lookup ?? 'MENDIX_EMAIL_ATTRIBUTE=email',

    lookupValueOf: (identity) => emailOf(identity)?.trim() || null,

    async resolveAccount(identity) {
      const email = emailOf(identity)?.trim();
      if (!email) return null;
      return (await uuidsOf([email])).get(email.toLowerCase()) ?? null;
    },

    // One POST /v1/uuids for many addresses: each is answered under identifiers or error.emailAddresses.
    async resolveAccounts(people) {
      const emails = new Map(people.map((identity) => [identity.id, emailOf(identity)?.trim() || null]));
      const asked = [...new Set([...emails.values()].filter((email): email is string => email !== null))];
      const found = asked.length > 0 ? await uuidsOf(asked) : new Map<string, string>();
      return new Map([...emails].map(([id, email]) => [id, email === null ? null : (found.get(email.toLowerCase()) ?? null)]));
    },

    // Mendix answers 204 again for a user who is already deactivated, so a repeat is a success.
    async deactivate(accountId: string, _context: ActionContext) {
      const response = await deactivation.request({
        method: 'PATCH',
        path: `/v1/platform-users/${encodeURIComponent(accountId)}`,
        headers: authorization(config.pat),
        json: { active: false },
      });
      if (response.status < 200 || response.status > 299) throw mendixError(response, 'user-deactivation', now());
    },

    // "Only false is accepted: Mendix accounts cannot be reactivated through this API."
    reactivate(): Promise<ReactivateResult> {
      return Promise.resolve('unsupported');
    },
  };
}
