// The people the benchmark provisions: the same SCIM bodies for jml and the reference, shaped like
// what Okta sends (core User plus the enterprise extension).
export const CORE_USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const PATCH_OP_URN = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const DEPARTMENTS = ['Engineering', 'Finance', 'Operations', 'Sales', 'Support'];

/** `set` keeps the seeded population, the created users and the warm-up apart. */
export function benchUserName(set: string, index: number): string {
  return `${set}.${index}@bench.example.com`;
}

export function benchUser(set: string, index: number): Record<string, unknown> {
  const userName = benchUserName(set, index);
  return {
    schemas: [CORE_USER_URN, ENTERPRISE_USER_URN],
    userName,
    externalId: `${set}-${index}`,
    name: { givenName: `Given${index}`, familyName: `Family${index}` },
    displayName: `Given${index} Family${index}`,
    emails: [{ value: userName, type: 'work', primary: true }],
    active: true,
    title: 'Analyst',
    [ENTERPRISE_USER_URN]: { employeeNumber: String(100000 + index), department: DEPARTMENTS[index % DEPARTMENTS.length] },
  };
}

/** RFC 7644 §3.5.2: what an identity provider sends for a leaver. */
export const LEAVER_PATCH = { schemas: [PATCH_OP_URN], Operations: [{ op: 'replace', value: { active: false } }] };

/** The seeding calls both servers answer: the first `returnFirst` users' ids, in index order. */
export interface SeededUser {
  id: string;
  userName: string;
  email: string | null;
  externalId: string | null;
}
