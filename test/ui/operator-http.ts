// The operator API and pages as a client sees them, for tests that mount the routers on a bare
// express app: a bearer-token JSON call, and a log-in that returns the session cookie.
import { expect } from 'vitest';

export function operatorClient(base: () => string, tokens: Record<string, string>) {
  return {
    async api(method: string, path: string, as: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
      const response = await fetch(`${base()}/api${path}`, {
        method,
        headers: { authorization: `Bearer ${tokens[as]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async logIn(as: string): Promise<string> {
      const response = await fetch(`${base()}/ui/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base() },
        body: new URLSearchParams({ token: tokens[as]! }).toString(),
      });
      expect(response.status).toBe(303);
      return response.headers.getSetCookie().find((header) => header.startsWith('jml_ui_session='))!.split(';')[0]!;
    },
  };
}
