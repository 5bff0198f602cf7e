// The S3-compatible server the checkpoint tests publish to (docs/decisions/045-s3-checkpoints.md):
// versitygw, the Versity S3 Gateway, built from the Go module proxy into jml's cache like the
// Temporal CLI. A real gateway, not a fake: it checks every request's SigV4 signature (a wrong
// secret gets 403 SignatureDoesNotMatch) and honours `If-None-Match: *` on PutObject (412).
// Plain JavaScript: the bootstrap runs it before dependencies exist.
import { existsSync } from 'node:fs';
import { buildGoTool, cachedToolPath, onPath } from './go-tool.js';

/** v1.1.0 was the first to honour If-None-Match on PutObject; go.mod has no `replace` directive. */
export const VERSITYGW_VERSION = 'v1.7.0';

const VERSITYGW = { label: 'S3 test server (versitygw)', module: 'github.com/versity/versitygw/cmd/versitygw', version: VERSITYGW_VERSION, folder: 'versitygw', binary: 'versitygw' };

/**
 * The versitygw binary: JML_VERSITYGW_PATH, one on PATH, or the cached build (built now, about
 * 5 minutes on 2 cores the first time, when absent).
 * @param {(line: string) => void} log
 * @returns {string}
 */
export function ensureS3Server(log) {
  const configured = process.env.JML_VERSITYGW_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`JML_VERSITYGW_PATH=${configured} does not exist: point it at a versitygw binary or unset it.`);
    return configured;
  }
  const fromPath = onPath('versitygw');
  if (fromPath) return fromPath;
  const cached = cachedToolPath(VERSITYGW);
  return existsSync(cached) ? cached : buildGoTool(VERSITYGW, log);
}
