// The 1,000-operation Bulk mix of issue 16 (creates, PATCHes with termination dates, leavers), the
// same operations sent as single requests, and what jml's database holds afterwards, in a form two
// databases can be compared by. Shared by test/scim/bulk-mix.test.ts and test/faults/bulk-kill.test.ts.
//
// Each operation changes a person no other operation in the mix touches. That is what makes a
// lost answer safe to retry: a whole Bulk request sent again changes nothing its first run already
// did (a POST with a known externalId replaces the person with the same data, the same termination
// date or active=false again is no change; docs/decisions/032-scim-bulk.md).
import { CORE_USER, PATCH_OP, type scimClient } from './scim-client.js';
import type { TestDatabase } from './database.js';

type Query = TestDatabase['query'];

export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';
export const TERMINATION_DATE = '2099-03-31T00:00:00Z';

export interface SeededPerson {
  id: string;
  userName: string;
  externalId: string;
}

export type MixKind = 'create' | 'terminationDate' | 'leaver';

export interface MixOperation {
  kind: MixKind;
  userName: string;
  /** RFC 7644 §3.7 operation, paths relative to the SCIM base. */
  bulk: { method: 'POST' | 'PATCH'; bulkId?: string; path: string; data: Record<string, unknown> };
}

export interface MixShape {
  creates: number;
  terminationDates: number;
  leavers: number;
}

/** How many existing people a mix needs: one per PATCH. */
/** The lifecycle event each kind of operation yields, written as eventsSince (test/faults/support.ts) writes events. */
const EXPECTED_EVENT: Record<MixKind, string> = { create: 'joiner@now', terminationDate: 'leaver@later', leaver: 'leaver@now' };

/** The operations whose person did not get exactly their one expected event, with what they got. */
export function operationsWithWrongEvents(mix: readonly MixOperation[], events: ReadonlyMap<string, string[]>): Array<[string, MixKind, string[] | undefined]> {
  return mix
    .filter((operation) => (events.get(operation.userName) ?? []).join(',') !== EXPECTED_EVENT[operation.kind])
    .map((operation) => [operation.userName, operation.kind, events.get(operation.userName)]);
}

export const seedsNeeded = (shape: MixShape) => shape.terminationDates + shape.leavers;

export const personData = (userName: string) => ({
  schemas: [CORE_USER],
  userName,
  externalId: `ext-${userName}`,
  displayName: userName,
  active: true,
  emails: [{ value: `${userName}@example.com`, primary: true }],
});

/** The mix, interleaved (create, termination date, leaver, ...) as an HR feed would send it. */
export function bulkMix(prefix: string, seeded: readonly SeededPerson[], shape: MixShape): MixOperation[] {
  if (seeded.length < seedsNeeded(shape)) throw new Error(`The mix needs ${seedsNeeded(shape)} existing people, got ${seeded.length}`);
  const creates: MixOperation[] = Array.from({ length: shape.creates }, (_, index) => {
    const userName = `${prefix}new${index}`;
    return { kind: 'create', userName, bulk: { method: 'POST', bulkId: `new${index}`, path: '/Users', data: personData(userName) } };
  });
  const terminations: MixOperation[] = seeded.slice(0, shape.terminationDates).map((person) => ({
    kind: 'terminationDate',
    userName: person.userName,
    bulk: { method: 'PATCH', path: `/Users/${person.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${LIFECYCLE}:terminationDate`, value: TERMINATION_DATE }] } },
  }));
  const leavers: MixOperation[] = seeded.slice(shape.terminationDates, seedsNeeded(shape)).map((person) => ({
    kind: 'leaver',
    userName: person.userName,
    bulk: { method: 'PATCH', path: `/Users/${person.id}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] } },
  }));
  const mixed: MixOperation[] = [];
  for (let index = 0; index < Math.max(creates.length, terminations.length, leavers.length); index++) {
    for (const list of [creates, terminations, leavers]) if (list[index]) mixed.push(list[index]!);
  }
  return mixed;
}

export interface BulkLimitsAdvertised {
  maxOperations: number;
  maxPayloadSize: number;
}

/** /ServiceProviderConfig's bulk limits (RFC 7644 §5): what a client must stay within. */
export async function advertisedBulkLimits(scim: ReturnType<typeof scimClient>): Promise<BulkLimitsAdvertised> {
  const config = await scim.get<{ bulk: { supported: boolean; maxOperations: number; maxPayloadSize: number } }>('/ServiceProviderConfig');
  if (!config.body.bulk.supported) throw new Error('Bulk is not advertised as supported');
  return { maxOperations: config.body.bulk.maxOperations, maxPayloadSize: config.body.bulk.maxPayloadSize };
}

/**
 * The mix as Bulk request bodies within the advertised limits (RFC 7644 §3.7.4: a client that
 * exceeds them gets 413): as many operations per request as maxOperations and maxPayloadSize allow.
 */
export function bulkRequests(operations: readonly MixOperation[], limits: BulkLimitsAdvertised): Array<{ operations: MixOperation[]; body: string }> {
  const requests: Array<{ operations: MixOperation[]; body: string }> = [];
  const bodyOf = (chunk: readonly MixOperation[]) => JSON.stringify({ schemas: [BULK_REQUEST], Operations: chunk.map((operation) => operation.bulk) });
  let chunk: MixOperation[] = [];
  for (const operation of operations) {
    const candidate = [...chunk, operation];
    if (chunk.length > 0 && (candidate.length > limits.maxOperations || Buffer.byteLength(bodyOf(candidate)) > limits.maxPayloadSize)) {
      requests.push({ operations: chunk, body: bodyOf(chunk) });
      chunk = [operation];
    } else chunk = candidate;
  }
  if (chunk.length > 0) requests.push({ operations: chunk, body: bodyOf(chunk) });
  return requests;
}

/** The same operation as a single request would send it. */
export async function sendSingly(scim: ReturnType<typeof scimClient>, operation: MixOperation): Promise<number> {
  const answer = operation.bulk.method === 'POST' ? await scim.post(operation.bulk.path, operation.bulk.data) : await scim.patch(operation.bulk.path, operation.bulk.data);
  return answer.status;
}

/**
 * What jml holds per person, without ids and clock times (which differ between any two runs):
 * the identity, its lifecycle events with their outbox rows, and its audit actions and actors.
 */
export async function stateByPerson(query: Query): Promise<Map<string, unknown>> {
  const identities = await query<{ user_name: string; external_id: string | null; active: boolean; termination_date: Date | null; display_name: string | null; email: string | null; version: number; deleted: boolean }>(
    `SELECT user_name, external_id, active, termination_date, display_name, email, version, deleted_at IS NOT NULL AS deleted FROM identity`);
  const events = await query<{ user_name: string; kind: string; status: string; actor: string; effective_at: Date; created_at: Date; changes: unknown; outbox: string[] }>(
    `SELECT i.user_name, e.kind, e.status, e.actor, e.effective_at, e.created_at, e.changes,
            coalesce((SELECT array_agg(o.kind || ':' || coalesce(o.workflow_type, o.signal, '') ORDER BY o.id) FROM outbox o WHERE o.workflow_id = e.workflow_id), '{}') AS outbox
       FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id ORDER BY e.created_at, e.id`);
  const audit = await query<{ user_name: string; action: string; actor: string }>(
    `SELECT i.user_name, a.action, a.actor FROM audit_event a JOIN identity i ON i.id = a.identity_id ORDER BY a.id`);
  const state = new Map<string, { identity: unknown; events: unknown[]; audit: string[] }>();
  for (const identity of identities) {
    const { user_name: userName, termination_date: terminationDate, ...rest } = identity;
    state.set(userName, { identity: { ...rest, terminationDate: terminationDate?.toISOString() ?? null }, events: [], audit: [] });
  }
  for (const event of events) {
    // A leaver that takes effect at once is effective when it was recorded; only a future date is data.
    const scheduled = event.effective_at.getTime() - event.created_at.getTime() > 60_000 ? event.effective_at.toISOString() : 'at once';
    state.get(event.user_name)!.events.push({ kind: event.kind, status: event.status, actor: event.actor, effective: scheduled, changes: event.changes, outbox: event.outbox });
  }
  for (const row of audit) state.get(row.user_name)!.audit.push(`${row.actor} ${row.action}`);
  return state;
}
