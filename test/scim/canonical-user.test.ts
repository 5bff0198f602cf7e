// Decision 060's proof: where jml writes a User without scimmy's User constructions, the result
// is what scimmy gives. Over seeded random users (every attribute of the declared schema that IdPs
// send, unicode, key orders shuffled as jsonb shuffles them) and random damage to them, whatever
// isCanonicalUser accepts is its own inbound coercion (so a create stores what scimmy would store),
// userOut's JSON is byte for byte scimmy's outbound User, and every dialect's spelling of a leaver
// and a re-activation, after src/scim/dialect's rewrite, stores and answers exactly what scimmy's
// PatchOp does. What it does not recognise is left to scimmy.
import SCIMMY from 'scimmy';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../bench/support/stats.js';
import { canonicalJson } from '../../src/audit/canonical.js';
import { activeSetByPatch } from '../../src/scim/active-patch.js';
import { isCanonicalUser, userOut } from '../../src/scim/canonical-user.js';
import { behaviourOf, CLIENT_PROFILES, normalisePatchBody, rewritePatchOperations, type PatchOperation } from '../../src/scim/dialect/index.js';
import { LIFECYCLE_USER_URN } from '../../src/scim/lifecycle-extension.js';
import { declareUsersResource } from '../../src/scim/users.js';
import { CORE_USER_URN, ENTERPRISE_USER_URN } from '../../src/scim/user-mapping.js';

type Json = Record<string, unknown>;
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const BASEPATH = 'https://jml.example.com/scim/v2/Users';
const USERS = 400;

beforeAll(() => {
  declareUsersResource();
});

// ---- Seeded users --------------------------------------------------------------------------

const random = seededRandom(60);
const chance = (p: number) => random() < p;
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const SAMPLES = ['Ada', 'Zoë Ünal', '李小龍', 'O\'Brien "Bob"', 'a b', 'ǅemal', '🙂 emoji', 'tab\there', 'line\nbreak', ' leading', 'x'.repeat(200)];
const text = () => `${pick(SAMPLES)}${Math.floor(random() * 1000)}`;

function shuffled(value: Json): Json {
  const keys = Object.keys(value);
  for (let i = keys.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return Object.fromEntries(keys.map((key) => [key, value[key]]));
}

/** A complex value with a random, non-empty subset of its sub-attributes, in a random order. */
function complex(fields: Record<string, () => unknown>): Json {
  const names = Object.keys(fields).filter(() => chance(0.6));
  const chosen = names.length > 0 ? names : [pick(Object.keys(fields))];
  return shuffled(Object.fromEntries(chosen.map((name) => [name, fields[name]!()])));
}
const several = (make: () => Json) => Array.from({ length: 1 + Math.floor(random() * 3) }, make);
const isoDate = () => new Date(Date.UTC(1990 + Math.floor(random() * 60), Math.floor(random() * 12), 1 + Math.floor(random() * 28), Math.floor(random() * 24), Math.floor(random() * 60), Math.floor(random() * 60), Math.floor(random() * 1000))).toISOString();

const OPTIONAL_CORE: Record<string, () => unknown> = {
  externalId: text,
  name: () => complex({ formatted: text, familyName: text, givenName: text, middleName: text, honorificPrefix: text, honorificSuffix: text }),
  displayName: text,
  nickName: text,
  title: text,
  userType: text,
  preferredLanguage: () => pick(['en-US', 'de', 'fr-CA']),
  locale: () => pick(['en-US', 'de-DE']),
  timezone: () => pick(['Europe/Berlin', 'America/Los_Angeles']),
  active: () => chance(0.5),
  emails: () => several(() => complex({ value: () => `${text()}@example.com`, display: text, type: () => pick(['work', 'home', 'other']), primary: () => chance(0.5) })),
  phoneNumbers: () => several(() => complex({ value: () => `+1-201-555-0${Math.floor(random() * 999)}`, display: text, type: () => pick(['work', 'home', 'mobile', 'fax', 'pager', 'other']), primary: () => chance(0.5) })),
  ims: () => several(() => complex({ value: text, display: text, type: () => pick(['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']), primary: () => chance(0.5) })),
  addresses: () => several(() => complex({ formatted: text, streetAddress: text, locality: text, region: text, postalCode: text, country: text, type: () => pick(['work', 'home', 'other']), primary: () => chance(0.5) })),
  entitlements: () => several(() => complex({ value: text, display: text, type: text, primary: () => chance(0.5) })),
  roles: () => several(() => complex({ value: text, display: text, primary: () => chance(0.5) })),
};
const ENTERPRISE: Record<string, () => unknown> = {
  employeeNumber: text, costCenter: text, organization: text, division: text, department: text,
  manager: () => ({ value: text() }),
};

/** A canonical User as an IdP would create it (no id, no meta): its keys in a random order. */
function canonicalUser(index: number): Json {
  const user: Json = { userName: `${text()}.${index}@example.com` };
  for (const [name, make] of Object.entries(OPTIONAL_CORE)) if (chance(0.5)) user[name] = make();
  const schemas = [CORE_USER_URN];
  if (chance(0.6)) {
    user[ENTERPRISE_USER_URN] = complex(ENTERPRISE);
    schemas.push(ENTERPRISE_USER_URN);
  }
  if (chance(0.4)) {
    user[LIFECYCLE_USER_URN] = { terminationDate: isoDate() };
    schemas.push(LIFECYCLE_USER_URN);
  }
  user.schemas = schemas;
  return shuffled(user);
}

/** What identityToScim shows of a stored canonical User: `active` from its column, id and meta. */
function shownOf(user: Json, index: number, active = user.active !== false): Json {
  return shuffled({ ...user, id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`, active, meta: { created: new Date(1_700_000_000_000 + index), lastModified: new Date(1_800_000_000_000 + index), version: `W/"${index + 1}"` } });
}

/** Damage scimmy would repair, drop or refuse: none of it is canonical. */
const DAMAGE: Record<string, (user: Json) => void> = {
  'a password (inbound only, never returned)': (user) => { user.password = 'secret'; },
  'an empty string': (user) => { user.displayName = ''; },
  'a null': (user) => { user.title = null; },
  'a mis-cased attribute name': (user) => { user.username = user.userName; delete user.userName; },
  'an unknown attribute': (user) => { user.nickname2 = 'x'; },
  'a value outside the canonical values': (user) => { user.emails = [{ value: 'a@example.com', type: 'Work' }]; },
  'a date not in ISO form': (user) => { user[LIFECYCLE_USER_URN] = { terminationDate: '2026-01-01' }; (user.schemas as string[]).splice(1, 9, ...[ENTERPRISE_USER_URN].filter((urn) => urn in user), LIFECYCLE_USER_URN); },
  'an empty list': (user) => { user.emails = []; },
  'an empty complex value': (user) => { user.name = {}; },
  'schemas in another order': (user) => { user[ENTERPRISE_USER_URN] = { department: 'd' }; user[LIFECYCLE_USER_URN] = { terminationDate: isoDate() }; user.schemas = [CORE_USER_URN, LIFECYCLE_USER_URN, ENTERPRISE_USER_URN]; },
  'an extension in schemas without its attributes': (user) => { delete user[ENTERPRISE_USER_URN]; user.schemas = [CORE_USER_URN, ENTERPRISE_USER_URN]; },
  'an extension without its schema': (user) => { user[ENTERPRISE_USER_URN] = { department: 'd' }; user.schemas = [CORE_USER_URN]; },
  'no userName': (user) => { delete user.userName; },
  'groups (read-only, outbound only)': (user) => { user.groups = [{ value: 'g' }]; },
  'a reference (scimmy validates it)': (user) => { user.profileUrl = 'https://example.com/u'; },
  'a binary value': (user) => { user.x509Certificates = [{ value: 'YWJj' }]; },
  "the manager's displayName (read-only)": (user) => { user[ENTERPRISE_USER_URN] = { manager: { value: 'm', displayName: 'M' } }; user.schemas = [CORE_USER_URN, ENTERPRISE_USER_URN, ...[LIFECYCLE_USER_URN].filter((urn) => urn in user)]; },
  'active as a string': (user) => { user.active = 'false'; },
  'a number for a string': (user) => { user.title = 5; },
  'a lower-cased extension URN': (user) => { user[ENTERPRISE_USER_URN.toLowerCase()] = { department: 'd' }; },
  'a namespaced attribute': (user) => { user[`${ENTERPRISE_USER_URN}:department`] = 'd'; },
  'an id': (user) => { user.id = 'x'; },
  'a meta': (user) => { user.meta = { resourceType: 'User' }; },
  'a roles type (no canonical value exists)': (user) => { user.roles = [{ value: 'r', type: 't' }]; },
};

// ---- scimmy's answers ----------------------------------------------------------------------

/** What jml stores after scimmy's inbound coercion (users.ts drops id and meta). */
function storedByScimmy(instance: unknown): Json {
  const { id: _id, meta: _meta, ...stored } = JSON.parse(JSON.stringify(new SCIMMY.Schemas.User(instance, 'in'))) as Json;
  return stored;
}
const outByScimmy = (shown: Json) => JSON.stringify(new SCIMMY.Schemas.User(shown, 'out', BASEPATH));
const representationOf = ({ id: _id, meta: _meta, ...representation }: Json) => representation;

// Each client's spelling of "set active to b", as sent; src/scim/dialect rewrites it first.
const SPELLINGS: Record<string, (active: boolean) => unknown[]> = {
  'Okta (RFC 7644 §3.5.2.3, value object)': (active) => [{ op: 'replace', value: { active } }],
  'Entra (Replace, path, "False")': (active) => [{ op: 'Replace', path: 'active', value: active ? 'True' : 'False' }],
  'RFC path form': (active) => [{ op: 'replace', path: 'active', value: active }],
  'Entra value object with a string': (active) => [{ op: 'Replace', value: { active: active ? 'True' : 'False' } }],
  'two operations, the last one wins': (active) => [{ op: 'replace', value: { active: !active } }, { op: 'replace', path: 'active', value: active }],
};

/** scimmy's PATCH as resource-routes runs it: read ('out'), rewrite, PatchOp, write ('in'). */
async function patchByScimmy(shown: Json, sent: Json) {
  const read = new SCIMMY.Schemas.User(shown, 'out', BASEPATH);
  const current = JSON.parse(JSON.stringify(read)) as Json;
  const operations = rewritePatchOperations(sent.Operations as PatchOperation[], current, behaviourOf('generic'));
  const applied = (await new SCIMMY.Messages.PatchOp({ ...sent, Operations: operations } as never).apply(read as never)) as unknown;
  return { changed: applied !== undefined, stored: storedByScimmy(applied ?? read) };
}

// ---- The properties ------------------------------------------------------------------------

describe('canonical User representations (decision 060)', () => {
  it('are their own inbound coercion, and userOut is scimmy\'s outbound User byte for byte', () => {
    let canonical = 0;
    for (let index = 0; index < USERS; index++) {
      const user = canonicalUser(index);
      expect(isCanonicalUser(user), JSON.stringify(user)).toBe(true);
      canonical++;
      // A create: what scimmy would store is the body, up to jsonb's key order.
      expect(canonicalJson(storedByScimmy(user))).toBe(canonicalJson(user));
      // A read back from jsonb (keys in another order), shown and answered.
      const shown = shownOf(shuffled(JSON.parse(JSON.stringify(user)) as Json), index);
      expect(isCanonicalUser(representationOf(shown))).toBe(true);
      expect(JSON.stringify(userOut(shown, BASEPATH))).toBe(outByScimmy(shown));
    }
    expect(canonical).toBe(USERS);
  });

  it('refuses every kind of damage scimmy would repair, drop or refuse', () => {
    for (const [damage, apply] of Object.entries(DAMAGE)) {
      for (let index = 0; index < 20; index++) {
        const user = JSON.parse(JSON.stringify(canonicalUser(index))) as Json;
        apply(user);
        expect(isCanonicalUser(user), `${damage}: ${JSON.stringify(user)}`).toBe(false);
      }
    }
  });

  it('are accepted only where scimmy agrees, whatever the damage', () => {
    // Soundness over mixed damage: anything accepted must be a fixed point of scimmy's coercion.
    const damages = Object.values(DAMAGE);
    let accepted = 0;
    for (let index = 0; index < USERS; index++) {
      const user = JSON.parse(JSON.stringify(canonicalUser(index))) as Json;
      for (let count = Math.floor(random() * 3); count > 0; count--) pick(damages)(user);
      if (!isCanonicalUser(user)) continue;
      accepted++;
      expect(canonicalJson(storedByScimmy(user))).toBe(canonicalJson(user));
      const shown = shownOf(user, index);
      expect(JSON.stringify(userOut(shown, BASEPATH))).toBe(outByScimmy(shown));
    }
    expect(accepted).toBeGreaterThan(0);
  });
});

describe('a PATCH that only sets active (decision 060)', () => {
  it('is recognised in every spelling the dialect module normalises, for every client profile', () => {
    for (const [spelling, operations] of Object.entries(SPELLINGS)) {
      for (const active of [true, false]) {
        const body = normalisePatchBody({ schemas: [PATCH_OP], Operations: operations(active) }, 'Users');
        expect(activeSetByPatch(body), spelling).toBe(active);
      }
    }
    expect(CLIENT_PROFILES.length).toBeGreaterThan(0);
  });

  it('stores and answers exactly what scimmy\'s PatchOp does, 200-or-204 included', async () => {
    for (let index = 0; index < USERS / 4; index++) {
      const user = canonicalUser(index);
      const shown = shownOf(user, index, chance(0.5));
      const representation = representationOf(shown);
      for (const [spelling, operations] of Object.entries(SPELLINGS)) {
        for (const active of [true, false]) {
          const sent = normalisePatchBody({ schemas: [PATCH_OP], Operations: operations(active) }, 'Users') as Json;
          const byScimmy = await patchByScimmy(shown, sent);
          const written = { ...representation, active: activeSetByPatch(sent) };
          expect(canonicalJson(written), spelling).toBe(canonicalJson(byScimmy.stored));
          expect(byScimmy.changed, spelling).toBe(active !== shown.active);
          // The answer after the write: the same representation with the new version.
          const after = { ...written, id: shown.id, meta: { ...(shown.meta as Json), version: 'W/"99"' } };
          expect(JSON.stringify(userOut(after, BASEPATH))).toBe(outByScimmy({ ...byScimmy.stored, id: shown.id, active: byScimmy.stored.active, meta: after.meta }));
        }
      }
    }
  });

  it('leaves every other PATCH to scimmy', () => {
    const others: unknown[] = [
      { schemas: [PATCH_OP], Operations: [] },
      { schemas: [], Operations: [{ op: 'replace', value: { active: false } }] },
      { schemas: [PATCH_OP, CORE_USER_URN], Operations: [{ op: 'replace', value: { active: false } }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'active', value: false }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'active' }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: 'False' }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: ' active', value: false }] },
      // scimmy answers this one 400 invalidPath, and so must jml.
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'Active', value: false }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'x' }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false, displayName: 'x' } }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { Active: false } }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }, { op: 'replace', path: 'title', value: 't' }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false }, extra: 1 }] },
      { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active' }] },
      { schemas: [PATCH_OP], Operations: { op: 'replace', value: { active: false } } },
      { Operations: [{ op: 'replace', value: { active: false } }] },
      null,
      [],
    ];
    for (const body of others) expect(activeSetByPatch(body), JSON.stringify(body)).toBeUndefined();
  });
});
