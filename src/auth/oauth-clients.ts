// OAuth 2.0 clients (RFC 6749 §2) that get SCIM access tokens with the client credentials grant
// (§4.4). A client has a public client_id and one or more secrets, so a secret can be rotated
// without downtime; like bearer tokens, a secret is 256 random bits printed once and stored as its
// SHA-256 (docs/decisions/006-tokens.md, 031-oauth-client-credentials.md).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { appendAudit } from '../audit/append.js';
import type { Database } from '../db/client.js';
import type { ClientProfile } from '../scim/dialect/profiles.js';
import { hashSecret } from './tokens.js';

const CLIENT_ID_PREFIX = 'jml_client_';
const SECRET_PREFIX = 'jml_secret_';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AuthenticatedClient {
  /** The database id of the client. */
  id: string;
  clientId: string;
  name: string;
  profile: ClientProfile;
  /** The id of the secret it authenticated with (access tokens name it, so revoking it ends them). */
  secretId: string;
}

function newSecret() {
  const secret = `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { secret, secretHash: hashSecret(secret), prefix: secret.slice(0, SECRET_PREFIX.length + 6) };
}

/** Creates a client with its first secret; both are printed once by the caller. */
export async function createOAuthClient(db: Database, input: { name: string; profile?: ClientProfile; actor?: string }) {
  const clientId = `${CLIENT_ID_PREFIX}${randomBytes(12).toString('base64url')}`;
  const { secret, secretHash, prefix } = newSecret();
  const record = await db.$transaction(async (tx) => {
    const client = await tx.oAuthClient.create({ data: { clientId, name: input.name, profile: input.profile ?? 'generic' } });
    const created = await tx.oAuthClientSecret.create({ data: { clientId: client.id, secretHash, prefix } });
    await appendAudit(tx, [
      { actor: input.actor ?? 'cli', action: 'oauth.client.created', data: { clientId, name: client.name, profile: client.profile, secretId: created.id, prefix } },
    ]);
    return { client, secretId: created.id };
  });
  return { clientId, secret, ...record };
}

async function liveClient(db: Database, clientIdOrName: string) {
  return db.oAuthClient.findFirst({
    where: { revokedAt: null, OR: [{ clientId: clientIdOrName }, { name: clientIdOrName }, ...(UUID.test(clientIdOrName) ? [{ id: clientIdOrName }] : [])] },
    orderBy: { createdAt: 'desc' },
  });
}

/** Adds a secret to a live client (rotation: add, move the IdP over, revoke the old one). */
export async function addClientSecret(db: Database, clientIdOrName: string, actor = 'cli') {
  const client = await liveClient(db, clientIdOrName);
  if (!client) return null;
  const { secret, secretHash, prefix } = newSecret();
  const created = await db.$transaction(async (tx) => {
    const row = await tx.oAuthClientSecret.create({ data: { clientId: client.id, secretHash, prefix } });
    await appendAudit(tx, [{ actor, action: 'oauth.secret.created', data: { clientId: client.clientId, secretId: row.id, prefix } }]);
    return row;
  });
  return { clientId: client.clientId, secret, secretId: created.id };
}

/** Revokes one secret by id or prefix; access tokens issued with it stop working at once. */
export async function revokeClientSecret(db: Database, idOrPrefix: string, actor = 'cli'): Promise<number> {
  const where = { revokedAt: null, OR: [{ prefix: idOrPrefix }, ...(UUID.test(idOrPrefix) ? [{ id: idOrPrefix }] : [])] };
  return db.$transaction(async (tx) => {
    const secrets = await tx.oAuthClientSecret.findMany({ where, include: { client: true } });
    if (secrets.length === 0) return 0;
    await tx.oAuthClientSecret.updateMany({ where: { id: { in: secrets.map((secret) => secret.id) } }, data: { revokedAt: new Date() } });
    await appendAudit(tx, secrets.map((secret) => ({ actor, action: 'oauth.secret.revoked', data: { clientId: secret.client.clientId, secretId: secret.id, prefix: secret.prefix } })));
    return secrets.length;
  });
}

/** Revokes a client and so every secret and access token it has. */
export async function revokeOAuthClient(db: Database, clientIdOrName: string, actor = 'cli'): Promise<number> {
  return db.$transaction(async (tx) => {
    const clients = await tx.oAuthClient.findMany({ where: { revokedAt: null, OR: [{ clientId: clientIdOrName }, { name: clientIdOrName }] } });
    if (clients.length === 0) return 0;
    await tx.oAuthClient.updateMany({ where: { id: { in: clients.map((client) => client.id) } }, data: { revokedAt: new Date() } });
    await appendAudit(tx, clients.map((client) => ({ actor, action: 'oauth.client.revoked', data: { clientId: client.clientId, name: client.name } })));
    return clients.length;
  });
}

export function listOAuthClients(db: Database) {
  return db.oAuthClient.findMany({ orderBy: { createdAt: 'asc' }, include: { secrets: { orderBy: { createdAt: 'asc' } } } });
}

/** RFC 6749 §2.3.1: checks a client_id and secret; null when either is unknown or revoked. */
export async function authenticateClient(db: Database, clientId: string, secret: string): Promise<AuthenticatedClient | null> {
  const found = await db.oAuthClientSecret.findUnique({ where: { secretHash: hashSecret(secret) }, include: { client: true } });
  if (!found || found.revokedAt || found.client.revokedAt) return null;
  // The secret alone identifies the client; the client_id must still be the one it belongs to.
  const expected = Buffer.from(found.client.clientId);
  const presented = Buffer.from(clientId);
  if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return null;
  await db.oAuthClientSecret.update({ where: { id: found.id }, data: { lastUsedAt: new Date() } });
  return { id: found.client.id, clientId: found.client.clientId, name: found.client.name, profile: found.client.profile, secretId: found.id };
}

/** Whether the secret an access token was issued with is still live, and the client's profile now. */
export async function liveSecret(db: Database, secretId: string): Promise<{ name: string; profile: ClientProfile; clientId: string } | null> {
  if (!UUID.test(secretId)) return null;
  const found = await db.oAuthClientSecret.findUnique({ where: { id: secretId }, include: { client: true } });
  if (!found || found.revokedAt || found.client.revokedAt) return null;
  return { name: found.client.name, profile: found.client.profile, clientId: found.client.clientId };
}
