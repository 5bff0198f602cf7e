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

/** The request URL with a discovery alias in its first segment replaced, or the URL unchanged. */
export function canonicalDiscoveryUrl(url: string): string {
  const match = /^\/([^/?#]+)(.*)$/s.exec(url);
  if (!match) return url;
  const canonical = ALIASES[match[1]!.toLowerCase()];
  return canonical ? `/${canonical}${match[2]}` : url;
}
