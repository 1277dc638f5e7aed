import { gzipBlocks, type Block } from './gzip-blocks.js';

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

  get(encoding: 'identity' | 'gzip', version: number, ownId: number, blocks: () => Block[]): ScrapeBody {
    const key = `${version}:${ownId}`;
    const hit = this.last.get(encoding);
    if (hit && hit.key === key) return hit.body;
    const rendered = blocks();
    const chunks = encoding === 'gzip' ? gzipBlocks(rendered) : rendered.map((b) => b.text);
    let length = 0;
    for (const c of chunks) length += c.length;
    const body = { chunks, length };
    this.last.set(encoding, { key, body });
    return body;
  }
}
