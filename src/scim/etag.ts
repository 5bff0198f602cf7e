// RFC 7644 §3.14: versions as weak entity tags, If-Match and If-None-Match.

/** RFC 7232 §3.1: `*` or a comma-separated list of entity tags. Weak comparison (RFC 7232 §2.3.2). */
export function etagMatches(header: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => opaque(candidate) === opaque(etag));
}
