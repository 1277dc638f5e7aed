import type { ScrapeCache } from '../render/scrape-cache.js';
import { SeriesNotLoadedError, type ChangeCursor, type GroupHeader, type MetricStore } from '../store/metric-store.js';

/**
 * Keeps a scrape cache in step with the store's change feed: the start's full load, then the
 * writes other replicas committed (PushService.refresh).
 */
export class CacheFeed {
  /** Where the cache caught up with the store; undefined before the first load. */
  private cursor: ChangeCursor | undefined;
  /** Refreshes run one after another; a caller joins the queued one that has not started yet. */
  private refreshChain: Promise<void> = Promise.resolve();
  private queuedRefresh: Promise<void> | undefined;

  constructor(
    private readonly store: MetricStore,
    private readonly cache: ScrapeCache,
  ) {}

  /** Fills the cache from the whole store; returns the headers of the groups it loaded. */
  async load(yieldBetweenPages: boolean): Promise<GroupHeader[]> {
    this.cursor = undefined;
    const headers: GroupHeader[] = [];
    await this.catchUp(headers, yieldBetweenPages);
    return headers;
  }

  /**
   * Applies what changed since the last load or refresh. A refresh already running may have read
   * the store before the caller's request arrived, so the caller waits for the next one instead,
   * which everyone arriving meanwhile shares.
   */
  refresh(): Promise<void> {
    if (this.queuedRefresh) return this.queuedRefresh;
    const next = this.refreshChain.then(
      () => this.startRefresh(),
      () => this.startRefresh(),
    );
    this.queuedRefresh = next;
    this.refreshChain = next;
    return next;
  }

  private async startRefresh(): Promise<void> {
    this.queuedRefresh = undefined;
    await this.catchUp();
  }

  /** Adds the headers of the groups it loaded to `loaded`, when given. */
  private async catchUp(loaded?: GroupHeader[], yieldBetweenPages = false): Promise<void> {
    const changes = await this.store.loadGroupsChangedSince(this.cursor);
    if (changes.full) this.cache.clear();
    // Removals first: SQLite may give a new group the id of a removed one.
    for (const id of changes.removedIds) this.cache.removeGroup(id);
    const unrendered: number[] = [];
    for await (const page of changes.pages) {
      if (yieldBetweenPages) await new Promise((resolve) => setImmediate(resolve));
      for (const group of page) {
        try {
          // A full load starts from the cleared cache: nothing of the group to drop.
          if (changes.full) this.cache.applyWrite(group, group.families, []);
          else this.cache.replaceGroup(group, group.families);
        } catch (err) {
          // A kept rendering this version cannot use (another STORED_VERSION): the cache renders
          // from the series, which a full load brings only for families kept without one.
          if (!(err instanceof SeriesNotLoadedError)) throw err;
          this.cache.removeGroup(group.id);
          unrendered.push(group.id);
        }
        // The header alone: the families' texts are garbage once the cache holds them.
        if (loaded) {
          const { families: _applied, ...header } = group;
          loaded.push(header);
        }
      }
    }
    for (const group of await this.store.loadGroupsById(unrendered)) {
      this.cache.removeGroup(group.id);
      this.cache.applyWrite(group, group.families, []);
    }
    this.cursor = changes.cursor;
  }
}
