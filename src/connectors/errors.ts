// Downstream failures, classified once in each connector. The `name` is what Temporal retry
// policies match on (nonRetryableErrorTypes), so it is part of the contract: do not rename.

export interface DownstreamErrorDetails {
  system: string;
  /** HTTP status, when the system answered. */
  status?: number;
  /** The vendor's own error text, kept verbatim for the audit trail. */
  vendorMessage?: string;
  /** The system's rate-limit hint: wait this long before the next attempt. */
  retryAfterMs?: number;
}

abstract class DownstreamError extends Error {
  readonly system: string;
  readonly status?: number;
  readonly vendorMessage?: string;
  readonly retryAfterMs?: number;

  constructor(message: string, details: DownstreamErrorDetails) {
    super(message);
    this.system = details.system;
    this.status = details.status;
    this.vendorMessage = details.vendorMessage;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** Network errors, 5xx, 429, 409 IDEMPOTENT_REQUEST_IN_PROGRESS: try again later. */
export class RetryableDownstreamError extends DownstreamError {
  override readonly name = 'RetryableDownstreamError';
}

/** 400, 401, 403, 413, 422 and the like: retrying cannot help; a person must act. */
export class PermanentDownstreamError extends DownstreamError {
  override readonly name = 'PermanentDownstreamError';
}

export function isDownstreamError(error: unknown): error is RetryableDownstreamError | PermanentDownstreamError {
  return error instanceof RetryableDownstreamError || error instanceof PermanentDownstreamError;
}

/**
 * The system answered that the account does not exist: the user API's documented 404
 * `{code, message}`, Rocket.Chat's 400 "User not found", or a lookup (users.info, Mendix's
 * User Identifier API) that found nobody. Never a success: nothing was deactivated, and a wrong
 * lookup setting looks exactly like this, so the message names the setting to check.
 */
export class AccountNotFoundError extends Error {
  override readonly name = 'AccountNotFoundError';
  readonly system: string;
  /** The account id the system did not know, when jml had one. */
  readonly accountId: string | null;
  /** The setting that decides how the account is found, e.g. `USERAPI_ID_ATTRIBUTE=externalId`. */
  readonly lookup: string;

  constructor(details: { system: string; accountId: string | null; lookup: string; vendorMessage?: string }) {
    super(
      details.accountId === null
        ? `${details.system} found no account for this person (looked up by ${details.lookup}): check that setting`
        : `${details.system} has no account ${details.accountId}${details.vendorMessage ? ` (${details.vendorMessage})` : ''} (found by ${details.lookup}): check that setting`,
    );
    this.system = details.system;
    this.accountId = details.accountId;
    this.lookup = details.lookup;
  }
}
