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
