// A request-rate limit per SCIM client: a token bucket per credential, in this process. With
// several API replicas each enforces it (a client's allowance is per replica). Buckets are kept for
// at most `maxClients` clients and forgotten once they would be full again, so memory is bounded.
import { LRUCache } from 'lru-cache';

export interface RateLimitDecision {
  allowed: boolean;
  /** Seconds until a request would be allowed (the Retry-After value). */
  retryAfterSeconds: number;
}

export class ClientRateLimiter {
  private readonly buckets: LRUCache<string, { tokens: number; updated: number }>;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
    maxClients = 10_000,
  ) {
    // A bucket untouched for burst/rate seconds is full again: forgetting it changes nothing.
    const refillMs = ratePerSecond > 0 ? Math.ceil((burst / ratePerSecond) * 1000) : 1;
    this.buckets = new LRUCache({ max: maxClients, ttl: refillMs, perf: { now } });
  }

  take(client: string): RateLimitDecision {
    if (this.ratePerSecond <= 0) return { allowed: true, retryAfterSeconds: 0 };
    const now = this.now();
    const bucket = this.buckets.get(client) ?? { tokens: this.burst, updated: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updated) / 1000) * this.ratePerSecond);
    bucket.updated = now;
    this.buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)) };
  }
}
