// Bearer tokens for SCIM clients and operators. A token is 256 random bits, printed once; only
// its SHA-256 is stored (a slow hash adds nothing for secrets that cannot be guessed), and
// lookups go through the hash's unique index (docs/decisions/006-tokens.md).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { appendAudit } from '../audit/append.js';
import type { Database } from '../db/client.js';
import type { ClientProfile } from '../scim/dialect/profiles.js';

/** A token's kind is its role: src/auth/roles.ts says what each may do. */
export type TokenKind = 'scim' | 'auditor' | 'operator' | 'admin' | 'hr';

export interface Principal {
  /** The token's id, or "env" for the token given by JML_SCIM_TOKEN. */
  tokenId: string;
  name: string;
  kind: TokenKind;
  /** A SCIM client's profile: what it expects where RFC 7644 allows more than one answer (src/scim/dialect). */
  profile?: ClientProfile;
}

const PREFIX: Record<TokenKind, string> = { scim: 'jml_scim_', auditor: 'jml_aud_', operator: 'jml_op_', admin: 'jml_adm_', hr: 'jml_hr_' };

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Creates a token; `actor` (who asked for it) goes to the audit trail with the token's id. */
export async function createToken(db: Database, input: { name: string; kind: TokenKind; actor?: string; profile?: ClientProfile }) {
  const token = `${PREFIX[input.kind]}${randomBytes(32).toString('base64url')}`;
  const record = await db.$transaction(async (tx) => {
    const created = await tx.apiToken.create({
      data: { name: input.name, kind: input.kind, secretHash: hashSecret(token), prefix: token.slice(0, PREFIX[input.kind].length + 6), profile: input.profile ?? 'generic' },
    });
    await appendAudit(tx, [{ actor: input.actor ?? 'cli', action: 'token.created', data: { tokenId: created.id, name: created.name, kind: created.kind, prefix: created.prefix, profile: created.profile } }]);
    return created;
  });
  return { token, record };
}

export function listTokens(db: Database) {
  return db.apiToken.findMany({ orderBy: { createdAt: 'asc' } });
}

/** A token as listings show it: its prefix (to recognise a leaked one), never its hash or secret. */
export interface TokenView {
  id: string;
  name: string;
  kind: TokenKind;
  prefix: string;
  profile: ClientProfile | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export function tokenView(record: Awaited<ReturnType<typeof listTokens>>[number]): TokenView {
  return {
    id: record.id,
    name: record.name,
    kind: record.kind,
    prefix: record.prefix,
    profile: record.kind === 'scim' ? record.profile : null,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
  };
}

/** Revokes by id, or every live token with that name; returns how many were revoked. */
export async function revokeToken(db: Database, idOrName: string, actor = 'cli'): Promise<number> {
  const isUuid = /^[0-9a-f-]{36}$/i.test(idOrName);
  const where = { revokedAt: null, OR: [...(isUuid ? [{ id: idOrName }] : []), { name: idOrName }] };
  return db.$transaction(async (tx) => {
    const revoked = await tx.apiToken.findMany({ where, select: { id: true, name: true, kind: true } });
    if (revoked.length === 0) return 0;
    await tx.apiToken.updateMany({ where: { id: { in: revoked.map((token) => token.id) } }, data: { revokedAt: new Date() } });
    await appendAudit(tx, revoked.map((token) => ({ actor, action: 'token.revoked', data: { tokenId: token.id, name: token.name, kind: token.kind } })));
    return revoked.length;
  });
}

/** Changes the profile of a SCIM client's live tokens, by id or name; returns how many changed. */
export async function setTokenProfile(db: Database, idOrName: string, profile: ClientProfile, actor = 'cli'): Promise<number> {
  const isUuid = /^[0-9a-f-]{36}$/i.test(idOrName);
  const where = { revokedAt: null, kind: 'scim' as const, OR: [...(isUuid ? [{ id: idOrName }] : []), { name: idOrName }] };
  return db.$transaction(async (tx) => {
    const tokens = await tx.apiToken.findMany({ where, select: { id: true, name: true, profile: true } });
    if (tokens.length === 0) return 0;
    await tx.apiToken.updateMany({ where: { id: { in: tokens.map((token) => token.id) } }, data: { profile } });
    await appendAudit(tx, tokens.map((token) => ({ actor, action: 'token.profile.changed', data: { tokenId: token.id, name: token.name, from: token.profile, to: profile } })));
    return tokens.length;
  });
}

export interface TokenVerifierOptions {
  db: Database;
  /** Tokens from the environment (JML_SCIM_TOKEN), accepted besides the stored ones, with their role. */
  environmentTokens?: Partial<Record<TokenKind, string>>;
  /**
   * How long a live token's lookup is trusted (JML_TOKEN_CACHE_MS): a revocation or a profile
   * change made elsewhere takes effect within this bound. 0 looks every request up.
   */
  trustForMs?: number;
  /** The clock, for tests of the bound. */
  now?: () => number;
}

/** What a token that `createToken` printed looks like; anything else is refused without a lookup. */
const TOKEN_SHAPE = /^jml_[a-z]+_[A-Za-z0-9_-]{43}$/;

/**
 * Verifies presented bearer tokens; remembers last use at most once a minute per token.
 * A wrong token costs no database round trip when it is not shaped like ours, or when its hash
 * was already looked up and found unknown or revoked: both answers are final (a 256-bit random
 * token that does not exist now never will, and revocation is permanent), so they are cached.
 * A live token's answer is not final: it is trusted for `trustForMs` (decision 006), which takes
 * the lookup off every SCIM request's path, and looked up again after that.
 */
export function createTokenVerifier({ db, environmentTokens = {}, trustForMs = 0, now: clock = Date.now }: TokenVerifierOptions) {
  const lastTouched = new LRUCache<string, number>({ max: 10_000 });
  const refused = new LRUCache<string, true>({ max: 10_000 });
  // Keyed by the hash, never the token: nothing here holds a secret.
  const trusted = new LRUCache<string, { principal: Principal; until: number }>({ max: 1_000 });
  const environmentHashes = Object.entries(environmentTokens)
    .filter((entry): entry is [TokenKind, string] => Boolean(entry[1]))
    .map(([kind, token]) => ({ kind, hash: Buffer.from(hashSecret(token), 'hex') }));

  /** The principal the token stands for, whatever its role; null for anything not a live token. */
  return async function verify(presented: string): Promise<Principal | null> {
    const hash = hashSecret(presented);
    const hashBytes = Buffer.from(hash, 'hex');
    for (const candidate of environmentHashes) {
      if (timingSafeEqual(candidate.hash, hashBytes)) {
        const kind = candidate.kind;
        return { tokenId: 'env', name: kind === 'scim' ? 'JML_SCIM_TOKEN' : 'environment', kind, ...(kind === 'scim' ? { profile: 'generic' as const } : {}) };
      }
    }
    if (!TOKEN_SHAPE.test(presented) || refused.has(hash)) return null;
    const known = trusted.get(hash);
    if (known && known.until > clock()) return known.principal;
    const record = await db.apiToken.findUnique({ where: { secretHash: hash } });
    if (!record || record.revokedAt) {
      refused.set(hash, true);
      return null;
    }
    const now = clock();
    if ((lastTouched.get(record.id) ?? 0) < now - 60_000) {
      lastTouched.set(record.id, now);
      await db.apiToken.update({ where: { id: record.id }, data: { lastUsedAt: new Date(now) } });
    }
    const principal: Principal = { tokenId: record.id, name: record.name, kind: record.kind, ...(record.kind === 'scim' ? { profile: record.profile } : {}) };
    if (trustForMs > 0) trusted.set(hash, { principal, until: now + trustForMs });
    return principal;
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;
