// What each SCIM client is known to expect where RFC 7644 allows more than one answer. A token's
// profile is chosen when it is created (`jml tokens create --profile entra`) and can be changed
// later; requests are accepted as liberally for every profile (request.ts), only answers and
// the few rewrites the RFC itself forbids differ (docs/decisions/030-client-profiles.md).

export const CLIENT_PROFILES = ['okta', 'entra', 'onelogin', 'jumpcloud', 'google', 'generic'] as const;
export type ClientProfile = (typeof CLIENT_PROFILES)[number];

export function isClientProfile(value: unknown): value is ClientProfile {
  return typeof value === 'string' && (CLIENT_PROFILES as readonly string[]).includes(value);
}

export type PatchAnswer = 'resource' | 'noContent';

export interface ProfileBehaviour {
  /**
   * RFC 7644 §3.5.2: a successful PATCH either MUST answer 200 with the whole resource or MAY
   * answer 204. Per resource type, what the client's documentation shows.
   */
  patchAnswer: { Users: PatchAnswer; Groups: PatchAnswer };
  /**
   * `replace` of `emails[type eq "work"].value` when no work email exists: RFC 7644 §3.5.2.3 says
   * 400 noTarget, but Entra sends exactly this to set a first value and counts the 400 as a failed
   * provisioning. Only clients that may be Entra get the entry created.
   */
  replaceCreatesMissingValuePath: boolean;
}

const RFC_DEFAULT: ProfileBehaviour = { patchAnswer: { Users: 'resource', Groups: 'resource' }, replaceCreatesMissingValuePath: false };

export const PROFILES: Record<ClientProfile, ProfileBehaviour> = {
  okta: RFC_DEFAULT,
  // Microsoft's "Develop a SCIM endpoint" tutorial answers user PATCHes with 200 and the user,
  // group PATCHes with 204 No Content.
  entra: { patchAnswer: { Users: 'resource', Groups: 'noContent' }, replaceCreatesMissingValuePath: true },
  onelogin: RFC_DEFAULT,
  jumpcloud: RFC_DEFAULT,
  google: RFC_DEFAULT,
  // A client jml knows nothing about may be any of the above: every dialect rewrite applies,
  // and answers take the RFC's MUST branch (200 with the resource).
  generic: { ...RFC_DEFAULT, replaceCreatesMissingValuePath: true },
};

export function behaviourOf(profile: ClientProfile | undefined): ProfileBehaviour {
  return PROFILES[profile ?? 'generic'];
}
