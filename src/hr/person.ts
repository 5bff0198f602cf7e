// Which live identity an HR source means. HR systems name people by their own keys (an employee
// number or email in a CSV export, a worker id in a webhook), operators by userName or SCIM id;
// each names exactly one live identity or the change is refused with the reason.
import { z } from 'zod';
import type { Prisma } from '../db/client.js';
import type { Identity } from '../generated/prisma/client.js';

/** The identity attributes an HR source may name a person by. */
export const PERSON_KEYS = ['id', 'userName', 'email', 'externalId', 'employeeNumber'] as const;
export type PersonKey = (typeof PERSON_KEYS)[number];

type Reader = Pick<Prisma.TransactionClient, 'identity'>;

export class UnknownPerson extends Error {
  override readonly name = 'UnknownPerson';
  constructor(readonly subject: string) {
    super(`No live identity has the ${describe(subject)}: check the spelling, or whether the person was ever provisioned (\`jml evidence ${subject}\`)`);
  }
}

export class AmbiguousPerson extends Error {
  override readonly name = 'AmbiguousPerson';
  constructor(
    readonly subject: string,
    readonly ids: string[],
  ) {
    super(`${ids.length} live identities match "${subject}" (${ids.join(', ')}): name the person by SCIM id or userName`);
  }
}

function describe(subject: string): string {
  return `id, userName, externalId, employeeNumber or email "${subject}"`;
}

const isUuid = (value: string) => z.uuid().safeParse(value).success;

/** Live identities whose `key` is `value`; userName and email compare case-insensitively, as SCIM's userName does (RFC 7643 §4.1.1). */
export function identitiesBy(db: Reader, key: PersonKey, value: string): Promise<Identity[]> {
  const where: Prisma.IdentityWhereInput = { deletedAt: null };
  if (key === 'id') {
    if (!isUuid(value)) return Promise.resolve([]);
    where.id = value;
  } else if (key === 'userName' || key === 'email') where[key] = { equals: value, mode: 'insensitive' };
  else where[key] = value;
  return db.identity.findMany({ where, take: 5, orderBy: { createdAt: 'asc' } });
}

/**
 * The one live identity an operator means: the SCIM id, else the userName, else the externalId,
 * the employee number or the email, the first key that matches anyone.
 */
export async function findPerson(db: Reader, subject: string): Promise<Identity> {
  for (const key of PERSON_KEYS) {
    const found = await identitiesBy(db, key, subject);
    if (found.length > 1) throw new AmbiguousPerson(subject, found.map((identity) => identity.id));
    if (found.length === 1) return found[0]!;
  }
  throw new UnknownPerson(subject);
}
