// The one place that knows how SCIM clients differ from RFC 7643/7644 and from each other: request
// rewrites every client gets (request.ts), PATCH rewrites that need the current resource
// (patch.ts), discovery aliases (discovery.ts) and what each client profile expects (profiles.ts).
export { behaviourOf, CLIENT_PROFILES, isClientProfile, PROFILES, type ClientProfile, type ProfileBehaviour } from './profiles.js';
export { normalisePatchBody, normaliseResourceBody, type ResourceType } from './request.js';
export { rewritePatchOperations, type PatchOperation } from './patch.js';
export { canonicalDiscoveryUrl } from './discovery.js';
