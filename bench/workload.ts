// The data every scenario pushes and expects back: one gauge family spread over many groups, so that
// "N series stored" means the same thing on every target and can be checked by counting scrape lines.

export const JOB = 'bench';
export const FAMILY = 'bench_gauge';
export const SERIES_PER_SMALL_PUSH = 10;
export const SERIES_PER_LARGE_PUSH = 100;
export const PUSH_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const HELP = 'A gauge pushed by the Pushkeep benchmark.';

/** The push path of group `index`; groups differ only in their `group` label. */
export function groupPath(index: number): string {
  return `/metrics/job/${JOB}/group/g${index}`;
}

/** A text-format body of `series` samples of one gauge family, without timestamps (the gateway rejects them). */
export function pushBody(series: number): Buffer {
  const lines = [`# HELP ${FAMILY} ${HELP}`, `# TYPE ${FAMILY} gauge`];
  for (let i = 0; i < series; i++) lines.push(`${FAMILY}{series="${i}"} ${(i + 1) * 0.25}`);
  return Buffer.from(lines.join('\n') + '\n');
}

/** A POST of `series` counter increments, for aggregate_small's sum groups. */
export function counterBody(series: number): Buffer {
  const lines = ['# HELP bench_increments_total Increments.', '# TYPE bench_increments_total counter'];
  for (let i = 0; i < series; i++) lines.push(`bench_increments_total{series="${i}"} 1`);
  return Buffer.from(lines.join('\n') + '\n');
}

/**
 * The scrape page a gateway would serve for `groups` groups of `seriesPerGroup` series, in the official
 * gateway's layout (families sorted by name, labels sorted, the two timestamp gauges per group), so the bare
 * servers serve about the same bytes as the real ones.
 */
export function renderedPage(groups: number, seriesPerGroup: number): Buffer {
  const chunks: string[] = [`# HELP ${FAMILY} ${HELP}\n# TYPE ${FAMILY} gauge\n`];
  const samples: string[] = [];
  for (let g = 0; g < groups; g++) {
    for (let s = 0; s < seriesPerGroup; s++) {
      samples.push(`${FAMILY}{group="g${g}",instance="",job="${JOB}",series="${s}"} ${(s + 1) * 0.25}`);
    }
    if (samples.length >= 10_000) chunks.push(samples.splice(0).join('\n') + '\n');
  }
  if (samples.length > 0) chunks.push(samples.splice(0).join('\n') + '\n');
  const pushTime = (Date.now() / 1000).toExponential(15).replace(/e\+?/, 'e+0');
  for (const [name, help, value] of [
    ['push_failure_time_seconds', 'Last Unix time when changing this group in the Pushgateway failed.', '0'],
    ['push_time_seconds', 'Last Unix time when changing this group in the Pushgateway succeeded.', pushTime],
  ] as const) {
    chunks.push(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
    for (let g = 0; g < groups; g++) samples.push(`${name}{group="g${g}",instance="",job="${JOB}"} ${value}`);
    chunks.push(samples.splice(0).join('\n') + '\n');
  }
  return Buffer.from(chunks.join(''));
}

/**
 * Counts the benchmark family's sample lines in a scrape fed chunk by chunk, without holding the page:
 * a 1,000,000-series page is about 100 MB.
 */
export class SeriesCounter {
  #count = 0;
  // A leading newline lets a page that opens with a sample line count it too.
  #carry = Buffer.from('\n');
  readonly #needle = Buffer.from(`\n${FAMILY}{`);

  /** Feeds the next chunk of the page. */
  push(chunk: Buffer): void {
    const buf = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    let at = buf.indexOf(this.#needle);
    let lastEnd = 0;
    while (at !== -1) {
      this.#count++;
      lastEnd = at + this.#needle.length;
      at = buf.indexOf(this.#needle, lastEnd);
    }
    // Keep enough tail to find a needle split across chunks, but never one already counted.
    const keepFrom = Math.max(lastEnd, buf.length - this.#needle.length + 1);
    this.#carry = Buffer.from(buf.subarray(keepFrom));
  }

  get count(): number {
    return this.#count;
  }
}
