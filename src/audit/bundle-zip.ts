// The evidence bundle's container: a ZIP archive with STORED (uncompressed) entries only, written
// byte for byte the same way every time (PKWARE APPNOTE.TXT 6.3.10: §4.3.7 local file header,
// §4.3.12 central directory header, §4.3.16 end of central directory record; no ZIP64, no extra
// fields, DOS date 1980-01-01, UTF-8 names flagged by bit 11). Any unzip tool opens it. Why not a
// library: package.json has no ZIP library, and the reader here must be stricter than a library's:
// `readCanonicalZip` accepts only the exact bytes `writeZip` would produce for the same entries, so
// a changed byte anywhere, in a header as much as in a file, fails verification (the files' content
// is then checked against the signed manifest, src/audit/bundle.ts).

export class BundleFormatError extends Error {
  override readonly name = 'BundleFormatError';
}

export interface ZipEntry {
  name: string;
  data: Buffer;
}

// CRC-32 (ISO 3309, the polynomial ZIP uses, APPNOTE §4.4.7). zlib.crc32 needs Node 20.15; we run on 20.3.
const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let value = index;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;
const VERSION = 10; // 1.0: stored entries need nothing newer (APPNOTE §4.4.3.2).
const UTF8_NAMES = 0x0800;
const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;

export function writeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const crc = crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // 00:00:00
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE(VERSION, 4);
    central.writeUInt16LE(VERSION, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(DOS_DATE_1980_01_01, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    // extra, comment, disk, internal and external attributes: zero.
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, entry.data);
    centrals.push(central, name);
    offset += local.length + name.length + entry.data.length;
    if (offset > 0xffffffff) throw new BundleFormatError('the bundle would exceed 4 GiB, which needs ZIP64');
  }
  const centralSize = centrals.reduce((size, part) => size + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

/** The entries of a ZIP that writeZip produced, refusing any other bytes (re-zipped, edited, padded). */
export function readCanonicalZip(zip: Buffer): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let offset = 0;
  while (offset + 30 <= zip.length && zip.readUInt32LE(offset) === LOCAL) {
    const nameLength = zip.readUInt16LE(offset + 26);
    const size = zip.readUInt32LE(offset + 18);
    const start = offset + 30 + nameLength + zip.readUInt16LE(offset + 28);
    if (start + size > zip.length) throw new BundleFormatError('the bundle is cut short: an entry runs past its end');
    entries.push({ name: zip.subarray(offset + 30, offset + 30 + nameLength).toString('utf8'), data: Buffer.from(zip.subarray(start, start + size)) });
    offset = start + size;
  }
  if (entries.length === 0) throw new BundleFormatError('not a jml evidence bundle: no ZIP entry at its start');
  if (!writeZip(entries).equals(zip)) {
    throw new BundleFormatError('the ZIP structure differs from what jml writes (a header, checksum, directory or trailing byte was changed, or the file was re-zipped): use the bundle as downloaded');
  }
  return entries;
}
