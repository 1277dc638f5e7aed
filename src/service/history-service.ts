import type { HistoryPage, HistoryQuery, HistoryReads, Timeline } from '../domain/history-query.js';
import type { PushHistory } from './push-history.js';

/** A group card's timeline: the last 24 hours in 5-minute slots. */
export const GROUP_TIMELINE = { seconds: 86_400, slotSeconds: 300 } as const;
/** The status page's chart: the last hour, per minute. */
export const STATUS_CHART = { seconds: 3600, slotSeconds: 60 } as const;

/**
 * Reads of the push history for the API and the pages. Each read first writes what the recorder
 * still buffers, so an operator who pushes and then looks sees the attempt just made; that costs
 * the reader at most one batch INSERT and the pushes nothing.
 */
export class HistoryService {
  constructor(
    private readonly recorder: Pick<PushHistory, 'flush'>,
    private readonly reads: HistoryReads,
  ) {}

  async query(query: HistoryQuery): Promise<HistoryPage> {
    await this.recorder.flush();
    return this.reads.queryHistory(query);
  }

  /** Per grouping key, the group's last 24 hours up to nowSeconds. */
  async groupTimelines(groupingKeys: readonly string[], nowSeconds: number): Promise<Map<string, Timeline>> {
    await this.recorder.flush();
    const { start, count } = window(nowSeconds, GROUP_TIMELINE);
    return this.reads.groupTimelines(groupingKeys, start, GROUP_TIMELINE.slotSeconds, count);
  }

  /** Every attempt of the last hour up to nowSeconds, per minute. */
  async lastHour(nowSeconds: number): Promise<Timeline> {
    await this.recorder.flush();
    const { start, count } = window(nowSeconds, STATUS_CHART);
    return this.reads.overallTimeline(start, STATUS_CHART.slotSeconds, count);
  }
}

/** Slots aligned to the slot size (a 5-minute slot starts at :00, :05, …) ending with the one holding now. */
function window(nowSeconds: number, span: { readonly seconds: number; readonly slotSeconds: number }): { start: number; count: number } {
  const count = span.seconds / span.slotSeconds;
  const end = (Math.floor(nowSeconds / span.slotSeconds) + 1) * span.slotSeconds;
  return { start: end - count * span.slotSeconds, count };
}
