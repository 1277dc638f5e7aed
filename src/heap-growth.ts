import v8 from 'node:v8';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

/**
 * How far V8 lets the heap grow past the data that survived the last full collection, in percent.
 * V8's default factor (up to four times in a process that allocates fast) suits short-lived
 * objects; the gateway's heap is mostly its long-lived scrape cache, and at a million series that
 * default keeps hundreds of megabytes of garbage resident. This holds resident memory near the
 * live data for more frequent, concurrent, full collections (docs/performance.md, memory).
 */
const HEAP_GROWING_PERCENT = 30;

/**
 * ...but never less room than this. On a small heap the percentage is a few megabytes: V8 then
 * marks almost without pause, and its marking slows every allocation, which costs a push
 * measurably more CPU. Small heaps are let grow this much instead; on large ones the percentage is
 * the larger. More than this (16 and 64 MB were tried) cost a push no less CPU within the
 * benchmark's noise, and kept that much more garbage resident at 100k series.
 */
const MIN_GROWTH_BYTES = 8 * 1024 * 1024;

/** V8's own largest factor (4x). */
const MAX_GROWING_PERCENT = 300;

/** The growing percent for a heap holding `liveBytes` after a full collection. */
export function growingPercent(liveBytes: number): number {
  const forFloor = Math.ceil((MIN_GROWTH_BYTES / Math.max(1, liveBytes)) * 100);
  return Math.min(MAX_GROWING_PERCENT, Math.max(HEAP_GROWING_PERCENT, forFloor));
}

let observer: PerformanceObserver | undefined;

/**
 * Applies growingPercent for the heap's size now, and again after each full collection (V8 reads
 * the flag at every full collection, so a change takes effect from the next one), unless the
 * operator chose a value on node's command line (`node --heap-growing-percent=N
 * dist/src/main.js`). Returns whether it applies its own.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg))) return false;
  if (observer) return true;
  let applied = 0;
  const apply = () => {
    const percent = growingPercent(v8.getHeapStatistics().used_heap_size);
    if (percent === applied) return;
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
    applied = percent;
  };
  apply();
  observer = new PerformanceObserver((list) => {
    // Right after a full collection the used size is about the live data.
    if (list.getEntries().some(isFullCollection)) apply();
  });
  observer.observe({ entryTypes: ['gc'] });
  return true;
}

/**
 * The young generation's largest size. V8 lets it grow to 32 MB (two semi-spaces of 16 MB), all
 * of it resident once a burst of pushes has filled it; the gateway's short-lived objects (a
 * request, its parsed body) die long before a quarter of that fills.
 */
const MAX_YOUNG_BYTES = 8 * 1024 * 1024;

let youngObserver: PerformanceObserver | undefined;

/**
 * Stops the young generation growing once it has reached MAX_YOUNG_BYTES, checked after each
 * collection: V8 reads its growth factor whenever it grows it, but fixes the largest size at
 * start-up, out of a process's reach, so a young generation already larger stays the size it
 * is. Does nothing when the operator chose a size on node's command line
 * (`--max-semi-space-size`). Returns whether it applies its own.
 */
export function limitYoungGeneration(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--(max|min)[-_]semi[-_]space[-_]size(=|$)/.test(arg))) return false;
  if (youngObserver) return true;
  const observer = new PerformanceObserver(() => {
    const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    if (young && young.space_size >= MAX_YOUNG_BYTES) {
      v8.setFlagsFromString('--semi-space-growth-factor=1');
      observer.disconnect();
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  youngObserver = observer;
  return true;
}

function isFullCollection(entry: PerformanceEntry): boolean {
  return (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}
