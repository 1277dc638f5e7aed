import { gzipBlocks, type Block } from './gzip-blocks.js';

const SMALL_BODY = 4 * 1024 * 1024;
/** Chunks this small on average are joined into one buffer. */
const SMALL_CHUNK = 8 * 1024;
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
  private readonly last = new Map<string, { key: string; body: ScrapeBody }>();

  /**
   * `variant` names the format and encoding (e.g. `text/gzip`), prefixed by the scope for a scoped
   * scrape; only `…/gzip` variants are compressed.
   */
  get(variant: string, version: number, ownId: number, blocks: () => Block[]): ScrapeBody {
    const key = `${version}:${ownId}`;
    const hit = this.last.get(variant);
    if (hit && hit.key === key) return hit.body;
    const rendered = blocks();
    let chunks = variant.endsWith('/gzip') ? gzipBlocks(rendered) : rendered.map((b) => b.text);
    let length = 0;
    for (const c of chunks) length += c.length;
    // One buffer makes each repeated scrape a single write, worth its copy where the chunks are small
    // (a compressed body, many small families). Large chunks go out as they are: the copy of a body
    // that every push changes would cost each scrape more than writing its chunks.
    if (chunks.length > 1 && length <= SMALL_BODY && (variant.endsWith('/gzip') || length < chunks.length * SMALL_CHUNK)) {
      chunks = [Buffer.concat(chunks, length)];
    }
    const body = { chunks, length };
    this.last.delete(variant);
    if (this.last.size >= MAX_VARIANTS) this.last.delete(this.last.keys().next().value!);
    this.last.set(variant, { key, body });
    return body;
  }
}
