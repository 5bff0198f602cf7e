// Fixed-window request counting, the scheme both Rocket.Chat (Meteor's rate limiter: N calls per
// interval) and the generic user API ("429 until the window ends") describe.
import type { Clock } from './clock.js';

export interface RateWindow {
  limit: number;
  windowMs: number;
}

export interface WindowState {
  limit: number;
  remaining: number;
  /** Epoch ms (simulator clock) at which this window's count starts again from zero. */
  resetAt: number;
}

export type RateDecision =
  | { allowed: true; windows: WindowState[] }
  | { allowed: false; windows: WindowState[]; retryAt: number };

interface Counter {
  start: number;
  count: number;
}

export class FixedWindowRateLimiter {
  private readonly counters = new Map<string, Counter[]>();

  constructor(
    private readonly windows: readonly RateWindow[],
    private readonly now: Clock,
  ) {}

  /**
   * Counts one call for `key` when every window has room. A refused call is not counted: the
   * caller is told to wait until the fullest window ends, and waiting that long is enough.
   */
  take(key: string): RateDecision {
    const now = this.now();
    const counters = this.countersFor(key, now);
    const full = counters.filter((counter, i) => counter.count >= this.windows[i]!.limit);
    if (full.length > 0) {
      const retryAt = Math.max(...full.map((counter) => counter.start + this.windowOf(counters, counter).windowMs));
      return { allowed: false, windows: this.states(counters), retryAt };
    }
    for (const counter of counters) counter.count += 1;
    return { allowed: true, windows: this.states(counters) };
  }

  reset(): void {
    this.counters.clear();
  }

  private countersFor(key: string, now: number): Counter[] {
    const counters = this.counters.get(key) ?? this.windows.map(() => ({ start: now, count: 0 }));
    counters.forEach((counter, i) => {
      // A window opens with the first call after the previous one ended.
      if (now >= counter.start + this.windows[i]!.windowMs) {
        counter.start = now;
        counter.count = 0;
      }
    });
    this.counters.set(key, counters);
    return counters;
  }

  private windowOf(counters: Counter[], counter: Counter): RateWindow {
    return this.windows[counters.indexOf(counter)]!;
  }

  private states(counters: Counter[]): WindowState[] {
    return counters.map((counter, i) => {
      const window = this.windows[i]!;
      return {
        limit: window.limit,
        remaining: Math.max(0, window.limit - counter.count),
        resetAt: counter.start + window.windowMs,
      };
    });
  }
}
