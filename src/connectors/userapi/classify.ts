// Every answer of the generic user API that is not a success is read here, once
// (seeds/generic-user-api-deactivate.txt, seeds/README.md).
import { PermanentDownstreamError, RetryableDownstreamError } from '../errors.js';
import { isRetryableStatus, retryAfterMs, vendorText, type HttpResponse } from '../http.js';

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

/**
 * 404 with the documented body `{code, message}` is the API saying the user id is unknown: the
 * account is gone. A 404 without that body came from something else (a wrong USERAPI_URL) and
 * must not pass for a deactivated account.
 */
export function isUnknownUser(response: HttpResponse): boolean {
  return response.status === 404 && typeof field(response.body, 'code') === 'string' && typeof field(response.body, 'message') === 'string';
}

export function userApiError(response: HttpResponse, operation: 'deactivate' | 'activate' | 'read' | 'list', now: number): RetryableDownstreamError | PermanentDownstreamError {
  const { status, body } = response;
  const vendorMessage = vendorText(body, ['errorCode', 'message', 'code']);
  const details = { system: 'userapi', status, vendorMessage };
  if (status === 409 && field(body, 'errorCode') === 'IDEMPOTENT_REQUEST_IN_PROGRESS') {
    // The first attempt with this idempotency-ref is still running; asking again later returns its result.
    return new RetryableDownstreamError(`The user API is still processing an earlier ${operation} with the same idempotency-ref (409)`, details);
  }
  if (status === 401) {
    return new PermanentDownstreamError(
      'The user API rejected the credentials (401): check USERAPI_API_KEY (sent as the api-key header) and USERAPI_TOKEN (sent as Authorization: Bearer)',
      details,
    );
  }
  if (status === 403) {
    return new PermanentDownstreamError(
      `The user API refused to ${operation} (403${vendorMessage ? ` ${vendorMessage}` : ''}): the user behind USERAPI_API_KEY / USERAPI_TOKEN needs the ADMIN role`,
      details,
    );
  }
  if (isRetryableStatus(status)) {
    // Over a rate limit the API answers 429 until the window ends, and Retry-After says when.
    return new RetryableDownstreamError(`The user API answered ${status} to ${operation}: try again later`, {
      ...details,
      retryAfterMs: retryAfterMs(response.headers, now),
    });
  }
  if (status === 404) {
    return new PermanentDownstreamError(
      `The user API answered 404 to ${operation}${isUnknownUser(response) ? ': no such user' : ' without its error body: check USERAPI_URL'}`,
      details,
    );
  }
  return new PermanentDownstreamError(`The user API refused to ${operation} (${status}): ${vendorMessage ?? 'no reason given'}`, details);
}
