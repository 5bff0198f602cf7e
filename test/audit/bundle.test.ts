// Signed evidence bundles (docs/decisions/036-evidence-bundles.md): `jml evidence --bundle` writes a
// ZIP whose audit rows are proven under signed checkpoints, `jml verify-bundle` checks it with no
// database, and a change to any single byte of it makes verification fail.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/append.js';
import { buildBundle } from '../../src/audit/bundle.js';
import { verifyBundle } from '../../src/audit/bundle-verify.js';
import { readCanonicalZip } from '../../src/audit/bundle-zip.js';
import { Checkpointer, DirectoryPublisher } from '../../src/audit/checkpoint.js';
import { generateSignerKey, parseSignerKey } from '../../src/audit/signed-note.js';
import { evidenceCommand } from '../../src/cli/evidence.js';
import { verifyBundleCommand } from '../../src/cli/verify-bundle.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const key = parseSignerKey(generateSignerKey('jml-audit/bundle-test'));
let database: TestDatabase;
let directory: string;
let identityId: string;

function captured() {
  const output = { out: '', err: '' };
  return { output, io: { out: (text: string) => void (output.out += text), err: (text: string) => void (output.err += text) } };
}

async function rows(count: number, about: string | null) {
  const entries = Array.from({ length: count }, (_, index) => ({ actor: about ? 'okta' : 'system', action: about ? 'scim.user.updated' : 'test.other', identityId: about, data: { n: index } }));
  await database.db.$transaction((tx) => appendAudit(tx, entries));
  await integrated(database.db);
}

beforeAll(async () => {
  database = await createTestDatabase();
  directory = await mkdtemp(path.join(tmpdir(), 'jml-bundle-'));
  const identity = await database.db.identity.create({ data: { userName: 'ada', email: 'ada@example.com', resource: {} } });
  identityId = identity.id;
  const checkpointer = new Checkpointer({ db: database.db, key, publishers: [new DirectoryPublisher(directory)], intervalMs: 60_000 });
  // Ada's rows among other people's, under three checkpoints, and one row after the last.
  await rows(20, null);
  await rows(2, identityId);
  await rows(30, null);
  await checkpointer.checkpointOnce();
  await rows(5, null);
  await rows(1, identityId);
  await checkpointer.checkpointOnce();
  await rows(40, null);
  await checkpointer.checkpointOnce();
  await rows(1, identityId);
});

afterAll(async () => {
  await database.drop();
  await rm(directory, { recursive: true, force: true });
});

describe('evidence bundles', () => {
  it('proves the covered rows from each row to the next checkpoint only, and lists the uncovered one', async () => {
    const { zip, manifest } = await buildBundle(database.db, 'ada', { key, directory });
    // Rows 21..52 up to checkpoint 52, row 58 up to checkpoint 58; the checkpoint at 98 is not needed.
    expect(manifest.segments.map(({ fromSeq, throughSeq }) => [fromSeq, throughSeq])).toEqual([
      ['21', '52'],
      ['58', '58'],
    ]);
    expect(manifest.uncovered.map((row) => row.seq)).toEqual([99]);
    const rowsFile = readCanonicalZip(zip).find((entry) => entry.name === 'rows.jsonl')!.data.toString('utf8');
    // Other people's rows are there as leaf hashes only.
    expect(rowsFile).not.toContain('test.other');
    expect(rowsFile.trim().split('\n')).toHaveLength(33);

    const result = verifyBundle(zip, key);
    expect(result).toMatchObject({ ok: true, problems: [], keySource: 'given', subject: 'ada', rowsProven: 3, rowsUncovered: 1 });
    expect(result.checkpoints.map((checkpoint) => checkpoint.size)).toEqual([52n, 58n]);
  });

  it('is written by `jml evidence --bundle`, never over a file, and verified by `jml verify-bundle` saying what it proves', async () => {
    const out = path.join(directory, 'ada.zip');
    const written = captured();
    expect(await evidenceCommand(database.db, { subject: 'ada', bundle: out, bundleSource: { key, directory } }, written.io)).toBe(0);
    expect(written.output.out).toContain(`npx jml verify-bundle ${out} --key '${key.text}'`);
    expect(await evidenceCommand(database.db, { subject: 'ada', bundle: out, bundleSource: { key, directory } }, captured().io)).toBe(2);

    const given = captured();
    expect(verifyBundleCommand({ file: out, key: key.text }, given.io)).toBe(0);
    expect(given.output.out).toContain('Bundle verified: evidence for "ada"');
    expect(given.output.out).toContain("3 of the person's audit rows were in jml's hash chain");
    expect(given.output.out).toContain("What this does not prove:\n  - rows not yet under a checkpoint when the bundle was made (1 of the person's rows)");

    const own = captured();
    expect(verifyBundleCommand({ file: out }, own.io)).toBe(0);
    expect(own.output.out).toContain('WARNING: this key was read from the bundle itself');

    const other = parseSignerKey(generateSignerKey(key.name));
    const foreign = captured();
    expect(verifyBundleCommand({ file: out, key: other.text }, foreign.io)).toBe(1);
    expect(foreign.output.out).toContain('manifest.txt: it is signed by jml-audit/bundle-test+');
  });

  it('fails after any single byte of it changes', async () => {
    const { zip } = await buildBundle(database.db, 'ada', { key, directory });
    expect(verifyBundle(zip, key).ok).toBe(true);
    const passed: number[] = [];
    for (let offset = 0; offset < zip.length; offset++) {
      const changed = Buffer.from(zip);
      changed[offset] = changed[offset]! ^ 0x01;
      if (verifyBundle(changed, key).ok) passed.push(offset);
    }
    expect({ bytes: zip.length, passed }).toEqual({ bytes: zip.length, passed: [] });
    // A cut-short or extended file fails too.
    expect(verifyBundle(zip.subarray(0, zip.length - 1), key).ok).toBe(false);
    expect(verifyBundle(Buffer.concat([zip, Buffer.from([0])]), key).ok).toBe(false);
    // Even with only the bundle's own key, a changed story fails: the manifest is signed.
    const story = zip.indexOf('"userName": "ada"');
    const edited = Buffer.from(zip);
    edited.write('"userName": "eve"', story);
    expect(verifyBundle(edited).problems).toEqual(expect.arrayContaining([expect.stringMatching(/ZIP structure differs|evidence.json differs/)]));
  });

  it('names a bundle file that is not one', async () => {
    const file = path.join(directory, 'not-a-bundle.zip');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'hello'));
    const result = captured();
    expect(verifyBundleCommand({ file, key: key.text }, result.io)).toBe(1);
    expect(result.output.out).toContain('not a jml evidence bundle');
    expect((await readFile(file, 'utf8')).length).toBe(5);
  });
});
