// Every Rocket.Chat answer that is not a success is read here, once (seeds/rocketchat-*.md,
// seeds/README.md).
import { PermanentDownstreamError, RetryableDownstreamError } from '../errors.js';
import { isRetryableStatus, retryAfterMs, vendorText, type HttpResponse } from '../http.js';

export type RocketChatEndpoint = 'users.info' | 'users.list' | 'users.setActiveStatus' | 'users.deactivateIdle';

const SYSTEM = 'rocketchat';

/** Rocket.Chat puts its text in `error` ({success:false,error}) or, for 401, in `message`. */
function errorText(body: unknown): string | undefined {
  return vendorText(body, ['error', 'message']);
}

/**
 * Rocket.Chat answers an unknown user with 400 "User not found." (users.info) or "User not found"
 * (users.setActiveStatus), never with 404: the text is the only sign.
 */
export function isUnknownUser(response: HttpResponse): boolean {
  return response.status === 400 && /^User not found\.?$/.test(errorText(response.body) ?? '');
}

function errorType(body: unknown): unknown {
  return typeof body === 'object' && body !== null && 'errorType' in body ? body.errorType : undefined;
}

/** `user-last-owner` names the rooms in details.shouldChangeOwner and details.shouldBeRemoved. */
function lastOwnerRooms(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || !('details' in body)) return [];
  const details = body.details as { shouldChangeOwner?: unknown; shouldBeRemoved?: unknown } | null;
  return [details?.shouldChangeOwner, details?.shouldBeRemoved].flatMap((rooms) =>
    Array.isArray(rooms) ? rooms.filter((room): room is string => typeof room === 'string') : [],
  );
}

/**
 * The hint of Rocket.Chat's rate limiter: `X-RateLimit-Reset` is the epoch ms at which the window
 * ends; Rocket.Chat sends no Retry-After, but a proxy in front of it might.
 */
export function rateLimitWaitMs(response: HttpResponse, now: number): number | undefined {
  const reset = Number(response.headers.get('x-ratelimit-reset') ?? Number.NaN);
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset - now);
  return retryAfterMs(response.headers, now);
}

const PERMISSION_NEEDED: Record<RocketChatEndpoint, string> = {
  'users.info': 'view-full-other-user-info',
  'users.list': 'view-full-other-user-info',
  'users.setActiveStatus': 'edit-other-user-active-status',
  'users.deactivateIdle': 'edit-other-user-active-status',
};

export function rocketChatError(
  response: HttpResponse,
  endpoint: RocketChatEndpoint,
  now: number,
): RetryableDownstreamError | PermanentDownstreamError {
  const { status } = response;
  const vendorMessage = errorText(response.body);
  const details = { system: SYSTEM, status, vendorMessage };
  if (status === 401) {
    return new PermanentDownstreamError(
      'Rocket.Chat rejected the credentials (401): check ROCKETCHAT_USER_ID and ROCKETCHAT_AUTH_TOKEN (a personal access token and the id of the user who owns it)',
      details,
    );
  }
  if (status === 403) {
    return new PermanentDownstreamError(
      `Rocket.Chat refused ${endpoint} (403): the user in ROCKETCHAT_USER_ID lacks the permission ${PERMISSION_NEEDED[endpoint]}; grant it to that user's role`,
      details,
    );
  }
  if (isRetryableStatus(status)) {
    const retryAfter = status === 429 ? rateLimitWaitMs(response, now) : retryAfterMs(response.headers, now);
    return new RetryableDownstreamError(`Rocket.Chat answered ${status} to ${endpoint}: try again later`, {
      ...details,
      retryAfterMs: retryAfter,
    });
  }
  if (status === 404) {
    // Unknown users are 400 in Rocket.Chat, so a 404 means the endpoint itself is missing.
    return new PermanentDownstreamError(
      `Rocket.Chat has no endpoint ${endpoint} (404): check ROCKETCHAT_URL; looking users up by email needs Rocket.Chat 8.4.0 or later`,
      details,
    );
  }
  if (status === 400 && errorType(response.body) === 'user-last-owner') {
    const rooms = lastOwnerRooms(response.body);
    return new PermanentDownstreamError(
      `Rocket.Chat will not deactivate the last owner of ${rooms.length > 0 ? `rooms ${rooms.join(', ')}` : 'some rooms'} without confirmRelinquish: set ROCKETCHAT_CONFIRM_RELINQUISH=true or hand the rooms over first`,
      details,
    );
  }
  return new PermanentDownstreamError(`Rocket.Chat refused ${endpoint} (${status}): ${vendorMessage ?? 'no reason given'}`, details);
}
