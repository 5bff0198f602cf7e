// Signed notes (C2SP signed-note, https://c2sp.org/signed-note, the envelope of Go's sumdb and of
// every Tessera/Trillian checkpoint), Ed25519 only, with node:crypto. Keys use the text forms Go's
// golang.org/x/mod/sumdb/note reads and writes, so a key made with `note.GenerateKey` works here:
//   signer   PRIVATE+KEY+<name>+<key ID, 8 hex>+base64(0x01 || 32-byte seed)
//   verifier <name>+<key ID, 8 hex>+base64(0x01 || 32-byte public key)
// A note is its text (ending in a newline), a blank line, and signature lines
// "— <key name> base64(4-byte key ID || signature)"; signatures cover the text alone.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** signed-note §Signature types: 0x01 is Ed25519. */
const ED25519 = 0x01;
const EM_DASH_PREFIX = '\u2014 ';
// DER prefixes of an Ed25519 key in PKCS #8 and SPKI (RFC 8410 §7): the raw 32 bytes follow.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export class SignedNoteError extends Error {
  override readonly name = 'SignedNoteError';
  constructor(
    /** malformed: not a signed note; unknown-key: no signature by the key we trust; bad-signature: ours, but it does not verify. */
    readonly kind: 'malformed' | 'unknown-key' | 'bad-signature' | 'bad-key',
    message: string,
  ) {
    super(message);
  }
}

export interface VerifierKey {
  name: string;
  /** signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]. */
  id: Buffer;
  publicKey: KeyObject;
  /** The verifier key's text form: give this to auditors. */
  text: string;
}

export interface SignerKey extends VerifierKey {
  privateKey: KeyObject;
}

function keyId(name: string, publicRaw: Buffer): Buffer {
  return createHash('sha256').update(name).update('\n').update(Buffer.from([ED25519])).update(publicRaw).digest().subarray(0, 4);
}

function checkName(name: string): void {
  // signed-note: key names are non-empty, without Unicode spaces or '+'.
  if (name === '' || /[\s+]/u.test(name)) throw new SignedNoteError('bad-key', `"${name}" cannot name a key: it must be non-empty, without spaces or "+"`);
}

function verifierFrom(name: string, publicRaw: Buffer): VerifierKey {
  const id = keyId(name, publicRaw);
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicRaw]), format: 'der', type: 'spki' });
  return { name, id, publicKey, text: `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), publicRaw]).toString('base64')}` };
}

/** Key bytes after the algorithm byte, checked against the key ID the text states. */
function keyBytes(name: string, idHex: string, encoded: string, what: string): Buffer {
  checkName(name);
  const bytes = Buffer.from(encoded, 'base64');
  if (!/^[0-9a-f]{8}$/.test(idHex) || bytes.length !== 33 || bytes[0] !== ED25519) {
    throw new SignedNoteError('bad-key', `not an Ed25519 ${what} in signed-note form (${what === 'signer key' ? 'PRIVATE+KEY+' : ''}<name>+<8 hex>+<base64>)`);
  }
  return bytes.subarray(1);
}

/** Splits at the first `count` '+' signs: the base64 key at the end may hold '+' itself. */
function splitKey(text: string, count: number): string[] {
  const parts: string[] = [];
  let rest = text.trim();
  for (let index = 0; index < count; index++) {
    const plus = rest.indexOf('+');
    if (plus < 0) break;
    parts.push(rest.slice(0, plus));
    rest = rest.slice(plus + 1);
  }
  return [...parts, rest];
}

export function parseVerifierKey(text: string): VerifierKey {
  const parts = splitKey(text, 2);
  if (parts.length !== 3) throw new SignedNoteError('bad-key', 'a verifier key reads <name>+<key ID>+<base64 key>');
  const [name = '', idHex = '', encoded = ''] = parts;
  const key = verifierFrom(name, keyBytes(name, idHex, encoded, 'verifier key'));
  if (key.id.toString('hex') !== idHex) throw new SignedNoteError('bad-key', `the verifier key's ID ${idHex} does not match its name and key (${key.id.toString('hex')})`);
  return key;
}

export function parseSignerKey(text: string): SignerKey {
  const parts = splitKey(text, 4);
  if (parts.length !== 5 || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') throw new SignedNoteError('bad-key', 'a signer key reads PRIVATE+KEY+<name>+<key ID>+<base64 key>');
  const [, , name = '', idHex = '', encoded = ''] = parts;
  const seed = keyBytes(name, idHex, encoded, 'signer key');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicRaw = Buffer.from(createPublicKey(privateKey).export({ format: 'jwk' }).x!, 'base64url');
  const verifier = verifierFrom(name, publicRaw);
  if (verifier.id.toString('hex') !== idHex) throw new SignedNoteError('bad-key', `the signer key's ID ${idHex} does not match its name and key (${verifier.id.toString('hex')})`);
  return { ...verifier, privateKey };
}

/** A new key pair's signer text (keep it secret) for `name`. */
export function generateSignerKey(name: string): string {
  checkName(name);
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const id = keyId(name, Buffer.from(jwk.x!, 'base64url'));
  return `PRIVATE+KEY+${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), seed]).toString('base64')}`;
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new SignedNoteError('malformed', 'the note text does not end in a newline');
  // signed-note: no ASCII control characters but newline.
  if ([...text].some((character) => character < ' ' && character !== '\n')) throw new SignedNoteError('malformed', 'the note holds control characters');
}

/** The note: `text` (ending in a newline), a blank line, one signature line by `key`. */
export function signNote(text: string, key: SignerKey): string {
  checkText(text);
  const signature = sign(null, Buffer.from(text, 'utf8'), key.privateKey);
  return `${text}\n${EM_DASH_PREFIX}${key.name} ${Buffer.concat([key.id, signature]).toString('base64')}\n`;
}

export interface NoteSignature {
  name: string;
  id: Buffer;
  signature: Buffer;
}

/** Splits a note into its text and signatures without checking any (for messages about foreign keys). */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  // The text is separated from the signatures by the note's last blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new SignedNoteError('malformed', 'no blank line separates the text from its signatures');
  const text = note.slice(0, split + 1);
  checkText(text);
  const lines = note.slice(split + 2).split('\n');
  if (lines.pop() !== '') throw new SignedNoteError('malformed', 'the last signature line does not end in a newline');
  if (lines.length === 0) throw new SignedNoteError('malformed', 'the note has no signature');
  const signatures = lines.map((line): NoteSignature => {
    const match = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/u.exec(line);
    const bytes = match ? Buffer.from(match[2]!, 'base64') : Buffer.alloc(0);
    if (!match || bytes.length < 5) throw new SignedNoteError('malformed', `"${line.slice(0, 80)}" is not a signature line`);
    return { name: match[1]!, id: bytes.subarray(0, 4), signature: bytes.subarray(4) };
  });
  return { text, signatures };
}

/**
 * The note's text when `key` signed it. Signatures by other keys are ignored, as signed-note
 * requires (witness cosignatures may sit beside ours); ours must be present and must verify.
 */
export function openNote(note: string, key: VerifierKey): string {
  const { text, signatures } = parseNote(note);
  const ours = signatures.filter((item) => item.name === key.name && item.id.equals(key.id));
  if (ours.length === 0) {
    const by = signatures.map((item) => `${item.name}+${item.id.toString('hex')}`).join(', ');
    throw new SignedNoteError('unknown-key', `it is signed by ${by}, not by the trusted key ${key.name}+${key.id.toString('hex')}`);
  }
  for (const item of ours) {
    if (!verify(null, Buffer.from(text, 'utf8'), key.publicKey, item.signature)) {
      throw new SignedNoteError('bad-signature', `the signature of ${key.name}+${key.id.toString('hex')} does not verify: the text was changed after signing`);
    }
  }
  return text;
}
