// A small SCIM client for tests: JSON in, status + JSON out, with the bearer token set.
/** What tests read of a SCIM resource; the rest is there to assert on. */
export interface ScimResource {
  id: string;
  meta: { location: string; version: string; created: string; lastModified: string };
  [attribute: string]: unknown;
}

export interface ScimResponse<T = ScimResource> {
  status: number;
  headers: Headers;
  body: T;
}

export function scimClient(baseUrl: string, token: string) {
  async function call<T = ScimResource>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ScimResponse<T>> {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/scim+json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as T };
  }
  return {
    call,
    get: <T = ScimResource>(path: string) => call<T>('GET', path),
    post: <T = ScimResource>(path: string, body: unknown) => call<T>('POST', path, body),
    put: <T = ScimResource>(path: string, body: unknown) => call<T>('PUT', path, body),
    patch: <T = ScimResource>(path: string, body: unknown) => call<T>('PATCH', path, body),
    delete: (path: string) => call('DELETE', path),
  };
}

export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
