// Signed notes and checkpoints (src/audit/signed-note.ts, src/audit/checkpoint.ts), against the
// known answer of the reference implementation, golang.org/x/mod/sumdb/note's documented example.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSignerKey, openNote, parseSignerKey, parseVerifierKey, signNote, SignedNoteError } from '../../src/audit/signed-note.js';
import { CheckpointError, checkpointerSetup, DirectoryPublisher, loadCheckpointKey, loadVerifierKey, openCheckpoint, readPublishedCheckpoints, signCheckpoint } from '../../src/audit/checkpoint.js';
import { loadEnvironment } from '../../src/environment.js';
import type { Logger } from '../../src/logger.js';

const GO_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;
const HEAD = 'ab'.repeat(32);

describe('signed notes', () => {
  it('signs byte for byte as Go sumdb/note does, and derives its verifier key', () => {
    const signer = parseSignerKey(GO_SIGNER);
    expect(signer.text).toBe(GO_VERIFIER);
    expect(signNote(GO_TEXT, signer)).toBe(GO_NOTE);
    expect(openNote(GO_NOTE, parseVerifierKey(GO_VERIFIER))).toBe(GO_TEXT);
  });

  it('refuses a changed text, a foreign key and a malformed note, saying which', () => {
    const verifier = parseVerifierKey(GO_VERIFIER);
    expect(() => openNote(GO_NOTE.replace('problem,', 'problem;'), verifier)).toThrow(/does not verify: the text was changed/);
    const other = parseSignerKey(generateSignerKey('PeterNeumann'));
    expect(() => openNote(signNote(GO_TEXT, other), verifier)).toThrow(/not by the trusted key PeterNeumann\+c74f20a3/);
    expect(() => openNote(GO_TEXT, verifier)).toThrow(SignedNoteError);
    expect(() => parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz')).toThrow(/does not match/);
  });
});

describe('checkpoints', () => {
  const key = parseSignerKey(generateSignerKey('jml-audit/test'));

  it('round-trips origin, size, head and time through a signed note', () => {
    const time = new Date('2026-12-01T22:00:00.000Z');
    const note = signCheckpoint({ size: 1234n, hash: HEAD, time }, key);
    expect(note.split('\n').slice(0, 4)).toEqual(['jml-audit/test', '1234', Buffer.from(HEAD, 'hex').toString('base64'), 'time 2026-12-01T22:00:00.000Z']);
    expect(openCheckpoint(note, key)).toEqual({ origin: 'jml-audit/test', size: 1234n, hash: HEAD, time });
  });

  it('publishes to a directory without ever overwriting a file', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'jml-checkpoints-'));
    try {
      const publisher = new DirectoryPublisher(directory);
      const checkpoint = { origin: key.name, size: 7n, hash: HEAD, time: new Date() };
      const note = signCheckpoint(checkpoint, key);
      expect(await publisher.publish(checkpoint, note)).toBe('published');
      expect(await publisher.publish(checkpoint, note)).toBe('exists');
      const forked = { ...checkpoint, hash: 'cd'.repeat(32) };
      await expect(publisher.publish(forked, signCheckpoint(forked, key))).rejects.toThrow(CheckpointError);
      expect(await readFile(path.join(directory, 'checkpoint-00000000000000000007.txt'), 'utf8')).toBe(note);
      expect(await readdir(directory)).toEqual(['checkpoint-00000000000000000007.txt']);
      expect((await readPublishedCheckpoints(directory)).map((item) => item.note)).toEqual([note]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('the checkpoint key', () => {
  it('is generated once in the data folder (0600), read back after, and never without `create`', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'jml-data-'));
    try {
      const { environment } = loadEnvironment({ JML_DATA_DIR: folder });
      expect(loadCheckpointKey(environment, { create: false })).toBeNull();
      const made = loadCheckpointKey(environment, { create: true })!;
      expect(made.generated).toBe(true);
      expect((await stat(made.source)).mode & 0o777).toBe(0o600);
      const again = loadCheckpointKey(environment, { create: true })!;
      expect(again).toMatchObject({ generated: false, source: made.source });
      expect(again.key.text).toBe(made.key.text);
      expect(loadVerifierKey(environment)?.text).toBe(made.key.text);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('is not generated in production, nor where the data folder cannot be written: checkpoints are off, and the log says so', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'jml-data-'));
    const said: string[] = [];
    const logger = { warn: (message: string) => said.push(message), error: (_context: unknown, message: string) => said.push(message) } as unknown as Logger;
    try {
      expect(checkpointerSetup(loadEnvironment({ JML_DATA_DIR: folder, NODE_ENV: 'production' }).environment, { create: true, logger })).toBeNull();
      expect(await readdir(folder)).toEqual([]);
      await writeFile(path.join(folder, 'a-file'), '');
      expect(checkpointerSetup(loadEnvironment({ JML_DATA_DIR: path.join(folder, 'a-file', 'data') }).environment, { create: true, logger })).toBeNull();
      expect(said).toEqual([expect.stringMatching(/^no checkpoint signing key/), expect.stringMatching(/^cannot create the checkpoint signing key/)]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('comes from JML_CHECKPOINT_KEY_FILE through the one secret loader, and a public key alone verifies', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'jml-key-'));
    try {
      await writeFile(path.join(folder, 'key'), `${GO_SIGNER}\n`, { mode: 0o600 });
      const { environment } = loadEnvironment({ JML_DATA_DIR: folder, JML_CHECKPOINT_KEY_FILE: path.join(folder, 'key') });
      expect(loadCheckpointKey(environment, { create: true })).toMatchObject({ source: 'JML_CHECKPOINT_KEY', generated: false, key: { name: 'PeterNeumann' } });
      expect(await readdir(folder)).toEqual(['key']);
      expect(loadVerifierKey(loadEnvironment({ JML_CHECKPOINT_PUBLIC_KEY: GO_VERIFIER }).environment)?.text).toBe(GO_VERIFIER);
      expect(() => loadVerifierKey(loadEnvironment({ JML_CHECKPOINT_PUBLIC_KEY: 'nonsense' }).environment)).toThrow(/JML_CHECKPOINT_PUBLIC_KEY: a verifier key reads/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
