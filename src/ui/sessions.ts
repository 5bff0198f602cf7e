// Operator sessions for the web pages, kept in this process's memory. The cookie holds only a
// random 256-bit session id; the operator token never reaches the browser after login, so a page
// cannot leak it. A restart logs everyone out, which is acceptable for a handful of operators; a
// second jml api process does not share them (put sticky sessions in front, or log in on each).
// The store holds at most `maxSessions`; past that the least recently used session is logged out.
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../auth/tokens.js';

export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;
export const DEFAULT_MAX_SESSIONS = 10_000;

export interface Session {
  id: string;
  principal: Principal;
  expiresAt: number;
  /** One message for the next page, set by a form post (post/redirect/get). */
  flash?: { kind: 'ok' | 'error'; text: string };
}

export class SessionStore {
  private readonly sessions: LRUCache<string, Session>;

  constructor(
    private readonly ttlMs: number = DEFAULT_SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
    maxSessions = DEFAULT_MAX_SESSIONS,
  ) {
    this.sessions = new LRUCache({ max: maxSessions, ttl: ttlMs, perf: { now } });
  }

  create(principal: Principal): Session {
    const session: Session = { id: randomBytes(32).toString('base64url'), principal, expiresAt: this.now() + this.ttlMs };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id; an expired one is forgotten. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (session && session.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  /** Sessions held (each forgotten once expired, and the least recently used past the bound). */
  get size(): number {
    return this.sessions.size;
  }
}
