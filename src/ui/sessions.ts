// Operator sessions for the web pages, kept in this process's memory. The cookie holds only a
// random 256-bit session id; the operator token never reaches the browser after login, so a page
// cannot leak it. A restart logs everyone out, which is acceptable for a handful of operators; a
// second jml api process does not share them (put sticky sessions in front, or log in on each).
import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth/tokens.js';

export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;

export interface Session {
  id: string;
  principal: Principal;
  expiresAt: number;
  /** One message for the next page, set by a form post (post/redirect/get). */
  flash?: { kind: 'ok' | 'error'; text: string };
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number = DEFAULT_SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  create(principal: Principal): Session {
    this.sweep();
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

  private sweep(): void {
    const now = this.now();
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}
