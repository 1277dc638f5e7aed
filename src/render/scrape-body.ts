import { gzipBlocks, type Block } from './gzip-blocks.js';

const SMALL_BODY = 4 * 1024 * 1024;
/** Chunks this small on average are joined into one buffer. */
const SMALL_CHUNK = 8 * 1024;
/** A body served again in more chunks than this is joined into chunks of JOINED_CHUNK bytes or more. */
const MANY_CHUNKS = 16;
const JOINED_CHUNK = 1024 * 1024;
/** Variants kept: six per scope (three formats, two encodings); scopes beyond these evict the oldest. */
const MAX_VARIANTS = 60;

export interface ScrapeBody {
  readonly chunks: readonly Buffer[];
  readonly length: number;
}

/**
 * The last scrape body per encoding, reused while neither the pushed data (its version) nor the
 * snapshot of own families changed: back-to-back scrapes then cost one lookup.
 */
export class ScrapeBodyCache {
  private readonly last = new Map<string, { key: string; body: ScrapeBody; joined: boolean }>();

  /**
   * `variant` names the format and encoding (e.g. `text/gzip`), prefixed by the scope for a scoped
   * scrape; only `…/gzip` variants are compressed.
   */
  get(variant: string, version: number, ownId: number, blocks: () => Block[]): ScrapeBody {
    const key = `${version}:${ownId}`;
    const hit = this.last.get(variant);
    if (hit && hit.key === key) {
      // Served again: a body that scrapes keep reusing is worth joining into a few large writes.
      if (!hit.joined) {
        hit.joined = true;
        // Up to SMALL_BODY: a larger body's copy would hold its megabytes twice.
        if (hit.body.chunks.length > MANY_CHUNKS && hit.body.length <= SMALL_BODY) hit.body = { chunks: joined(hit.body.chunks), length: hit.body.length };
      }
      return hit.body;
    }
    const rendered = blocks();
    let chunks = variant.endsWith('/gzip') ? gzipBlocks(rendered) : rendered.map((b) => b.text);
    let length = 0;
    for (const c of chunks) length += c.length;
    // One buffer makes each repeated scrape a single write, worth its copy where the chunks are small
    // (a compressed body, many small families). Large chunks go out as they are, until the body is
    // served a second time: the copy of a body that every push changes would cost each scrape more
    // than writing its chunks.
    if (chunks.length > 1 && length <= SMALL_BODY && (variant.endsWith('/gzip') || length < chunks.length * SMALL_CHUNK)) {
      chunks = [Buffer.concat(chunks, length)];
    }
    const body = { chunks, length };
    this.last.delete(variant);
    if (this.last.size >= MAX_VARIANTS) this.last.delete(this.last.keys().next().value!);
    this.last.set(variant, { key, body, joined: false });
    return body;
  }
}

/** Adjacent chunks joined into buffers of at least JOINED_CHUNK bytes. */
function joined(chunks: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let run: Buffer[] = [];
  let size = 0;
  for (const c of chunks) {
    run.push(c);
    size += c.length;
    if (size < JOINED_CHUNK) continue;
    out.push(run.length === 1 ? c : Buffer.concat(run, size));
    run = [];
    size = 0;
  }
  if (run.length > 0) out.push(Buffer.concat(run, size));
  return out;
}
