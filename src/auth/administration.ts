// An admin's actions (docs/decisions/024-roles.md: tokens and settings, nothing about people), as
// the operator API (src/api/admin-routes.ts) and the pages (/ui/admin) run them. Each is an audit
// row naming the admin, reads included: the trail says who looked at the tokens or the settings.
// Listings show a token's prefix, never its secret or hash; a new token's secret is returned once.
import { z } from 'zod';
import { appendAudit } from '../audit/append.js';
import type { PublicSetting } from '../config.js';
import type { Database } from '../db/client.js';
import { CLIENT_PROFILES } from '../scim/dialect/profiles.js';
import { TOKEN_KINDS } from './roles.js';
import { createToken, listTokens, revokeToken, tokenView, type Principal, type TokenKind, type TokenView } from './tokens.js';

export class TokenNotFound extends Error {
  override readonly name = 'TokenNotFound';
}

export class TokenAlreadyRevoked extends Error {
  override readonly name = 'TokenAlreadyRevoked';
}

export const createTokenSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    role: z.enum(TOKEN_KINDS as [TokenKind, ...TokenKind[]]),
    /** What a SCIM client expects where RFC 7644 allows more than one answer; scim tokens only. */
    profile: z.enum(CLIENT_PROFILES).optional(),
  })
  .refine((body) => body.profile === undefined || body.role === 'scim', { path: ['profile'], message: 'is for scim tokens only' });

export const tokenIdSchema = z.uuid({ error: 'must be a token id (a UUID, from GET /api/tokens)' });

async function recordRead(db: Database, admin: Principal, action: string, data: Record<string, unknown>): Promise<void> {
  await db.$transaction((tx) => appendAudit(tx, [{ actor: admin.name, action, data: { ...data, role: admin.kind } }]));
}

export async function listTokensAs(db: Database, admin: Principal): Promise<TokenView[]> {
  const tokens = (await listTokens(db)).map(tokenView);
  await recordRead(db, admin, 'token.listed', { count: tokens.length });
  return tokens;
}

/** The new token with its secret, which is shown this once and stored only as its SHA-256. */
export async function createTokenAs(db: Database, admin: Principal, input: z.output<typeof createTokenSchema>): Promise<TokenView & { token: string }> {
  const { token, record } = await createToken(db, { name: input.name, kind: input.role, profile: input.profile, actor: admin.name });
  return { token, ...tokenView(record) };
}

export async function revokeTokenAs(db: Database, admin: Principal, id: string): Promise<TokenView> {
  const found = await db.apiToken.findUnique({ where: { id: tokenIdSchema.parse(id) } });
  if (!found) throw new TokenNotFound(`No token ${id}: the token list names them`);
  if (found.revokedAt) throw new TokenAlreadyRevoked(`Token ${id} ("${found.name}") was revoked at ${found.revokedAt.toISOString()}`);
  await revokeToken(db, id, admin.name);
  return tokenView(await db.apiToken.findUniqueOrThrow({ where: { id } }));
}

export async function readSettingsAs(db: Database, admin: Principal, settings: Record<string, PublicSetting>): Promise<Record<string, PublicSetting>> {
  await recordRead(db, admin, 'settings.read', {});
  return settings;
}
