// Every Mendix answer that is not a success is read here, once
// (seeds/mendix-user-deactivation-api.md, seeds/README.md).
import { PermanentDownstreamError, RetryableDownstreamError } from '../errors.js';
import { isRetryableStatus, retryAfterMs, vendorText, type HttpResponse } from '../http.js';

/** The two Mendix APIs jml calls; they live on different hosts and may use different PATs. */
export type MendixApi = 'user-deactivation' | 'user-identifiers';

const SETTINGS: Record<MendixApi, { url: string; pat: string; scope: string }> = {
  'user-deactivation': { url: 'MENDIX_URL', pat: 'MENDIX_PAT', scope: 'mx:user-deactivation:write' },
  'user-identifiers': { url: 'MENDIX_IDENTIFIER_URL', pat: 'MENDIX_IDENTIFIER_PAT (or MENDIX_PAT)', scope: 'mx:mxid3:user-identifiers:uuid:read' },
};

export function mendixError(response: HttpResponse, api: MendixApi, now: number): RetryableDownstreamError | PermanentDownstreamError {
  const { status } = response;
  const vendorMessage = vendorText(response.body, ['message', 'error']);
  const details = { system: 'mendix', status, vendorMessage };
  const settings = SETTINGS[api];
  if (status === 401) {
    return new PermanentDownstreamError(
      `Mendix rejected the personal access token (401) on the ${api} API: check ${settings.pat}; it is sent as "Authorization: MxToken <PAT>"`,
      details,
    );
  }
  if (status === 403) {
    const self = api === 'user-deactivation' ? '; Mendix also refuses to deactivate the admin who owns the PAT' : '';
    return new PermanentDownstreamError(
      `Mendix refused the ${api} call (403): the PAT in ${settings.pat} needs the scope ${settings.scope} and must belong to a Mendix Admin of the company${self}`,
      details,
    );
  }
  if (isRetryableStatus(status)) {
    // Mendix publishes no rate-limit numbers; honour Retry-After if it sends one, else the caller's backoff.
    return new RetryableDownstreamError(`Mendix answered ${status} on the ${api} API: try again later`, {
      ...details,
      retryAfterMs: retryAfterMs(response.headers, now),
    });
  }
  if (status === 404) {
    // Not documented for either API, and a wrong base URL looks the same: a person must look,
    // rather than jml recording a leaver as done.
    return new PermanentDownstreamError(
      `Mendix answered 404 on the ${api} API: either the platform user no longer exists or ${settings.url} is wrong`,
      details,
    );
  }
  return new PermanentDownstreamError(`Mendix refused the ${api} call (${status}): ${vendorMessage ?? 'no reason given'}`, details);
}
