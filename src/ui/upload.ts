// Reads a multipart/form-data upload (RFC 7578), the only way a page without script can send a
// file. busboy streams it with limits on every part, so an oversized or many-part body is refused
// while it arrives instead of being buffered first.
import busboy from 'busboy';
import type { Request } from 'express';
import { CappedBody } from '../capped-body.js';

export class UploadRefused extends Error {
  override readonly name = 'UploadRefused';
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

export interface UploadLimits {
  /** Each named file field and its size limit in bytes. */
  files: Record<string, number>;
  /** Each named text field (at most 1 KiB each). */
  fields: readonly string[];
}

export interface Upload {
  files: Record<string, { name: string; content: Buffer }>;
  fields: Record<string, string>;
}

export function readUpload(req: Request, limits: UploadLimits): Promise<Upload> {
  const total = Object.values(limits.files).reduce((sum, size) => sum + size, 0) + 64 * 1024;
  const declared = Number(req.get('content-length') ?? Number.NaN);
  if (declared > total) return Promise.reject(new UploadRefused(413, `The upload is ${declared} bytes; at most ${total} are accepted`));
  if (!req.is('multipart/form-data')) return Promise.reject(new UploadRefused(415, 'Send the files as multipart/form-data (the page\'s form does)'));
  return new Promise<Upload>((resolve, reject) => {
    const largest = Math.max(...Object.values(limits.files));
    let parser: busboy.Busboy;
    try {
      // busboy signals partsLimit when the count reaches it, files and fields only past theirs.
      const parts = Object.keys(limits.files).length + limits.fields.length + 1;
      parser = busboy({ headers: req.headers, limits: { files: Object.keys(limits.files).length, fields: limits.fields.length, parts, fileSize: largest + 1, fieldSize: 1024 } });
    } catch (error) {
      reject(new UploadRefused(400, `The upload cannot be read: ${(error as Error).message}`));
      return;
    }
    const upload: Upload = { files: {}, fields: {} };
    let failure: UploadRefused | undefined;
    const fail = (error: UploadRefused) => {
      failure ??= error;
    };
    parser.on('file', (field, stream, info) => {
      const limit = limits.files[field];
      if (limit === undefined) {
        fail(new UploadRefused(400, `Unexpected file field "${field}"`));
        stream.resume();
        return;
      }
      // Drained to its end even when over (busboy stops it at the largest file's limit): the parser goes on to the next part.
      const body = new CappedBody(limit);
      stream.on('data', (chunk: Buffer) => {
        if (!body.add(chunk)) fail(new UploadRefused(413, `The ${field} file is larger than ${limit} bytes`));
      });
      stream.on('end', () => {
        if (!body.over) upload.files[field] = { name: info.filename || field, content: body.bytes() };
      });
    });
    parser.on('field', (field, value) => {
      if (limits.fields.includes(field)) upload.fields[field] = value;
      else fail(new UploadRefused(400, `Unexpected field "${field}"`));
    });
    for (const event of ['partsLimit', 'filesLimit', 'fieldsLimit'] as const) parser.on(event, () => fail(new UploadRefused(413, 'The upload has more parts than the form sends')));
    parser.on('error', (error: Error) => reject(new UploadRefused(400, `The upload cannot be read: ${error.message}`)));
    parser.on('close', () => (failure ? reject(failure) : resolve(upload)));
    req.pipe(parser);
  });
}
