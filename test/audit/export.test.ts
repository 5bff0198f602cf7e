// `jml audit export` after a scripted leaver through a whole jml: the export holds exactly the
// rows in the database, in chain order, and carries enough to re-verify the chain from the file.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, type JsonValue } from '../../src/audit/canonical.js';
import { chainHash, entryHash, GENESIS_HASH } from '../../src/audit/chain.js';
import { CSV_COLUMNS, exportAudit, type ExportFormat } from '../../src/audit/export.js';
import type { AuditFilter } from '../../src/audit/query.js';
import { verifyChain } from '../../src/audit/verify.js';
import { auditCommand } from '../../src/cli/audit.js';
import { integrated } from '../support/audit.js';
import { startTestSystem, type TestSystem } from '../support/system.js';
import { actionLines, adaLeaves, type ActionLine, type Scenario } from './scenario.js';

const expected = JSON.parse(readFileSync(new URL('leaver-scenario.expected.json', import.meta.url), 'utf8')) as ActionLine[];

interface DbRow {
  id: string;
  seq: string;
  occurred_at: Date;
  actor: string;
  action: string;
  identity_id: string | null;
  event_id: string | null;
  system: string | null;
  data: JsonValue;
  prev_hash: string;
  hash: string;
  entry_hash: string;
  chain_version: number;
}

let jml: TestSystem;
let scenario: Scenario;
let rows: DbRow[];
let scratch: string;
const from = new Date(Date.now() - 60_000);

beforeAll(async () => {
  jml = await startTestSystem();
  scenario = await adaLeaves(jml);
  await integrated(jml.system.db);
  // In the order rows were appended, as the export gives them.
  rows = await jml.database.query<DbRow>(
    'SELECT id::text AS id, seq::text AS seq, occurred_at, actor, action, identity_id::text AS identity_id, event_id::text AS event_id, system, data, prev_hash, hash, entry_hash, chain_version FROM audit_event ORDER BY audit_event.id',
  );
  scratch = mkdtempSync(path.join(tmpdir(), 'jml-export-'));
});

afterAll(async () => {
  await jml.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function exported(format: ExportFormat, filter: Partial<AuditFilter> = {}): Promise<string> {
  let text = '';
  await exportAudit(jml.system.db, { from, to: new Date(Date.now() + 60_000), ...filter }, format, { write: (chunk) => void (text += chunk) });
  return text;
}

/** RFC 4180 records, read independently of the exporter: quoted fields, doubled quotes, CRLF. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quoted) {
      if (char !== '"') field += char;
      else if (text[index + 1] === '"') {
        field += '"';
        index += 1;
      } else quoted = false;
    } else if (char === '"' && field === '') {
      quoted = true;
    } else if (char === ',') {
      record.push(field);
      field = '';
    } else if (char === '\r' && text[index + 1] === '\n') {
      records.push([...record, field]);
      record = [];
      field = '';
      index += 1;
    } else {
      field += char;
    }
  }
  expect({ quoted, field, record }).toEqual({ quoted: false, field: '', record: [] });
  return records;
}

const asCsvFields = (row: DbRow): string[] => [
  row.id,
  row.seq,
  row.occurred_at.toISOString(),
  row.actor,
  row.action,
  row.identity_id ?? '',
  row.event_id ?? '',
  row.system ?? '',
  canonicalJson(row.data),
  row.prev_hash,
  row.hash,
  row.entry_hash,
  String(row.chain_version),
];

describe('audit export', () => {
  it('the scenario left an intact chain of exactly the expected actions', async () => {
    expect(await verifyChain(jml.system.db)).toMatchObject({ ok: true, rowsChecked: rows.length });
    // The chain opens with the test harness creating its SCIM token; every other row is about Ada.
    expect(rows[0]).toMatchObject({ action: 'token.created', identity_id: null });
    const adaRows = rows.slice(1);
    expect(actionLines(scenario, adaRows.map((row) => ({ ...row, eventId: row.event_id })))).toEqual(expected);
    expect(adaRows.every((row) => row.identity_id === scenario.identityId)).toBe(true);
  });

  it('CSV: a header, then every row exactly as stored, quoted per RFC 4180', async () => {
    const text = await exported('csv');
    const [header, ...records] = parseCsv(text);
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(records).toEqual(rows.map(asCsvFields));
    // The data column's JSON has quotes and commas: quoted, inner quotes doubled.
    expect(text).toContain(',"{""after"":{""active"":true,');
  });

  it('CSV: an auditor can re-verify the chain from the file alone, in seq order', async () => {
    const [, ...records] = parseCsv(await exported('csv'));
    records.sort((a, b) => Number(a[1]) - Number(b[1]));
    let previous = GENESIS_HASH;
    for (const [, seq, occurredAt, actor, action, identityId, eventId, system, data, prevHash, hash, leaf] of records) {
      expect(prevHash).toBe(previous);
      const content = {
        occurredAt: new Date(occurredAt!),
        actor: actor!,
        action: action!,
        identityId: identityId || null,
        eventId: eventId || null,
        system: system || null,
        data: JSON.parse(data!) as JsonValue,
      };
      expect(entryHash(content)).toBe(leaf);
      expect(chainHash({ entryHash: leaf!, prevHash: prevHash!, seq: BigInt(seq!) })).toBe(hash);
      previous = hash!;
    }
  });

  it('JSON: one array of every row as stored, keys in the CSV column order', async () => {
    const text = await exported('json');
    const parsed = JSON.parse(text) as Record<string, unknown>[];
    expect(parsed).toEqual(
      rows.map((row) => ({
        id: Number(row.id),
        seq: Number(row.seq),
        occurredAt: row.occurred_at.toISOString(),
        actor: row.actor,
        action: row.action,
        identityId: row.identity_id,
        eventId: row.event_id,
        system: row.system,
        data: row.data,
        prevHash: row.prev_hash,
        hash: row.hash,
        entryHash: row.entry_hash,
        chainVersion: row.chain_version,
      })),
    );
    expect(Object.keys(parsed[0]!)).toEqual(['id', 'seq', 'occurredAt', 'actor', 'action', 'identityId', 'eventId', 'system', 'data', 'prevHash', 'hash', 'entryHash', 'chainVersion']);
    expect(text.split('\n')).toHaveLength(rows.length + 3);
  });

  it('takes from as inclusive and to as exclusive, and filters by action prefix and userName', async () => {
    const deactivatedAt = rows.find((row) => row.action === 'scim.user.replaced')!.occurred_at;
    const before = parseCsv(await exported('csv', { to: deactivatedAt })).slice(1);
    expect(before.map((record) => record[4])).toEqual(['token.created', 'scim.user.created', 'lifecycle.joiner.detected']);
    const after = parseCsv(await exported('csv', { from: deactivatedAt })).slice(1);
    expect(after).toHaveLength(rows.length - 3);
    expect(after[0]![4]).toBe('scim.user.replaced');

    const targets = parseCsv(await exported('csv', { action: 'target.*' })).slice(1);
    // Accepted by all three; read back where the vendor documents a read (not Mendix).
    expect(targets.map((record) => `${record[4]} ${record[7]}`).sort()).toEqual([
      'target.deactivate.succeeded mendix',
      'target.deactivate.succeeded rocketchat',
      'target.deactivate.succeeded userapi',
      'target.deactivate.verified rocketchat',
      'target.deactivate.verified userapi',
    ]);
    expect(parseCsv(await exported('csv', { identity: 'ADA' })).slice(1)).toHaveLength(rows.length - 1);
    expect(parseCsv(await exported('csv', { identity: 'nobody' }))).toEqual([[...CSV_COLUMNS]]);
    expect(await exported('json', { identity: 'nobody' })).toBe('[\n]\n');
  });

  it('jml audit export --out writes the same bytes to a new file, and never overwrites one', async () => {
    const out = path.join(scratch, 'audit.csv');
    const output = { out: '', err: '' };
    const io = { out: (text: string) => void (output.out += text), err: (text: string) => void (output.err += text) };
    const args = { action: 'export', from: from.toISOString(), to: new Date(Date.now() + 60_000).toISOString(), format: 'csv', out };
    expect(await auditCommand(jml.system.db, args, io)).toBe(0);
    expect(output.err).toBe(`Exported ${rows.length} audit rows to ${out}.\n`);
    expect(readFileSync(out, 'utf8')).toBe(await exported('csv', { to: new Date(args.to) }));

    expect(await auditCommand(jml.system.db, args, io)).toBe(2);
    expect(output.err).toContain('already exists');
    expect(await auditCommand(jml.system.db, { action: 'export', from: 'last tuesday', format: 'xml' }, io)).toBe(2);
    expect(output.err).toMatch(/--from: must be an ISO 8601 date[\s\S]*--to: [\s\S]*--format: /);
  });
});
