// A body read under a size cap: its chunks are kept only while their total stays within the limit,
// so an oversized body is refused as it arrives and never held whole. The one reader of vendors'
// answers (src/connectors/http.ts) and of operators' uploads (src/ui/upload.ts); each turns "over
// the limit" into its own error and decides whether the rest is cut off or drained.
export class CappedBody {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  constructor(readonly limit: number) {}

  /** Keeps `chunk` while the body stays within the limit; false from the chunk that takes it over on (nothing more is kept). */
  add(chunk: Uint8Array): boolean {
    this.size += chunk.byteLength;
    if (this.over) return false;
    this.chunks.push(chunk);
    return true;
  }

  get over(): boolean {
    return this.size > this.limit;
  }

  /** The bytes kept: the whole body when it was within the limit. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
