// What every /ui response carries, and the checks that keep another site from acting through an
// operator's browser. The pages run no script at all, so the CSP can forbid every script.
import type { NextFunction, Request, Response } from 'express';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
    // Pages name people and carry vendor errors: keep them out of shared caches and history.
    'Cache-Control': 'no-store',
  });
  next();
}

export const SESSION_COOKIE = 'jml_ui_session';

export function sessionIdOf(req: Request): string | undefined {
  const header = req.get('cookie');
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=') || undefined;
  }
  return undefined;
}

/** HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure over https. */
export function sessionCookie(req: Request, value: string, maxAgeMs: number): string {
  const attributes = [`${SESSION_COOKIE}=${value}`, 'Path=/ui', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.floor(maxAgeMs / 1000)}`];
  if (req.secure) attributes.push('Secure');
  return attributes.join('; ');
}

/**
 * A state-changing request must come from one of our own pages (CSRF; SameSite=Strict is the
 * first line, this the second). The Origin header must be ours: PUBLIC_URL's origin when set
 * (behind a proxy the Host header jml sees is not the one the browser used), else this request's
 * own. Browsers send `Origin: null` on a form post from a page whose Referrer-Policy is
 * no-referrer (Fetch §3.1, "serializing a request origin"), as ours is; then Sec-Fetch-Site,
 * which a page cannot forge, must say same-origin. A request with neither is refused: no browser
 * we serve omits both.
 */
export function sameOrigin(req: Request, publicUrl?: string): boolean {
  const origin = req.get('origin');
  const ours = publicUrl ? new URL(publicUrl).origin : `${req.protocol}://${req.get('host')}`;
  if (origin && origin !== 'null') return origin === ours;
  return origin === 'null' && req.get('sec-fetch-site') === 'same-origin';
}
