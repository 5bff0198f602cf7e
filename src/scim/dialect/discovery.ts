// RFC 7644 §4 names the discovery endpoints /ServiceProviderConfig, /ResourceTypes and /Schemas.
// Clients also ask for them under names from drafts and other servers (ServiceProviderConfigs,
// the singular ResourceType and Schema); express already ignores case. Those names are routed to
// the RFC's endpoint rather than answered 404.
const ALIASES: Record<string, string> = {
  serviceproviderconfigs: 'ServiceProviderConfig',
  serviceproviderconfiguration: 'ServiceProviderConfig',
  resourcetype: 'ResourceTypes',
  schema: 'Schemas',
};

const ENDPOINTS = new Set(['serviceproviderconfig', 'resourcetypes', 'schemas']);

/**
 * The request URL with a discovery alias in its first segment replaced, or the URL unchanged.
 * On a discovery endpoint the query string is dropped too: RFC 7644 §4 says the query
 * parameters of §3.4.2 (filter, sorting, pagination, attributes) SHALL be ignored there, and
 * scimmy-routers answered `?filter=...` on /ServiceProviderConfig with a 500. (§4 adds that a
 * filter SHOULD be answered 403; jml follows the SHALL and ignores it, as the other parameters.)
 */
export function canonicalDiscoveryUrl(url: string): string {
  const match = /^\/([^/?#]+)([^?#]*)(.*)$/s.exec(url);
  if (!match) return url;
  const [, first, rest] = match as unknown as [string, string, string, string];
  const canonical = ALIASES[first.toLowerCase()] ?? (ENDPOINTS.has(first.toLowerCase()) ? first : undefined);
  return canonical ? `/${canonical}${rest}` : url;
}
