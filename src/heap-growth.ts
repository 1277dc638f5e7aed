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
 * The young generation's size while the heap's live data grows (a store filling, a start): V8
 * lets it grow to 32 MB (two semi-spaces of 16 MB), all of it resident once a burst of pushes has
 * filled it, and data that stays would only be copied out of more of it.
 */
const FILLING_YOUNG_BYTES = 8 * 1024 * 1024;

/**
 * ...and once full collections find the live data no larger (a steady stream of re-pushes): what
 * they collect was promoted only to die, each push's series copied twice on the way. With this
 * much, most of it dies young instead; 32 MB cut a push's CPU further but kept that much more
 * resident (docs/performance.md, memory).
 */
const STEADY_YOUNG_BYTES = 16 * 1024 * 1024;

/** Full collections in a row that must find the live data no more than STEADY_GROWTH larger than the first of them. */
const STEADY_COLLECTIONS = 3;
const STEADY_GROWTH = 1.05;

/**
 * Whether the live sizes after the last full collections (oldest first) say the heap is steady:
 * STEADY_COLLECTIONS of them, none more than STEADY_GROWTH times the first.
 */
export function isSteady(liveAfterFull: readonly number[]): boolean {
  if (liveAfterFull.length < STEADY_COLLECTIONS) return false;
  const recent = liveAfterFull.slice(-STEADY_COLLECTIONS);
  return recent.every((live) => live <= recent[0]! * STEADY_GROWTH);
}

let youngObserver: PerformanceObserver | undefined;

/**
 * Holds the young generation at FILLING_YOUNG_BYTES, and lets it grow to STEADY_YOUNG_BYTES once
 * the heap is steady (isSteady), checked after each collection: V8 reads its growth factor
 * whenever it grows the young generation, but fixes the largest size at start-up, out of a
 * process's reach, and never shrinks it while busy. Does nothing when the operator chose a size on
 * node's command line (`--max-semi-space-size`). Returns whether it applies its own.
 */
export function limitYoungGeneration(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => /^--(max|min)[-_]semi[-_]space[-_]size(=|$)/.test(arg))) return false;
  if (youngObserver) return true;
  let limit = FILLING_YOUNG_BYTES;
  let growing = true;
  const live: number[] = [];
  const observer = new PerformanceObserver((list) => {
    const spaces = v8.getHeapSpaceStatistics();
    if (limit === FILLING_YOUNG_BYTES && list.getEntries().some(isFullCollection)) {
      // The old generation's: the young one fills again before this runs.
      let old = 0;
      for (const space of spaces) if (space.space_name === 'old_space' || space.space_name === 'large_object_space') old += space.space_used_size;
      live.push(old);
      if (live.length > STEADY_COLLECTIONS) live.shift();
      if (isSteady(live)) limit = STEADY_YOUNG_BYTES;
    }
    const young = spaces.find((space) => space.space_name === 'new_space');
    if (!young) return;
    const grow = young.space_size < limit;
    if (grow === growing) return;
    v8.setFlagsFromString(`--semi-space-growth-factor=${grow ? 2 : 1}`);
    growing = grow;
    if (!grow && limit === STEADY_YOUNG_BYTES) observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
  youngObserver = observer;
  return true;
}

function isFullCollection(entry: PerformanceEntry): boolean {
  return (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR;
}
