import type { MetricFamily, MetricType } from '../exposition/types.js';
import type { Block } from '../render/gzip-blocks.js';
import type { ScrapeCache } from '../render/scrape-cache.js';
import { ConflictError, type MetricStore, type StoredGroup } from '../store/metric-store.js';
import { checkConsistency, namesToLookUp } from './consistency.js';
import type { GroupingKey } from './grouping-key.js';
import { PushError } from './push-error.js';
import { sanitizeFamilies } from './push-rules.js';

export interface PushRequest {
  readonly key: GroupingKey;
  readonly families: readonly MetricFamily[];
  /** PUT replaces the group; POST replaces only the pushed families. */
  readonly replace: boolean;
  /** When the request arrived, in Unix seconds. */
  readonly timeSeconds: number;
}

export interface PushServiceOptions {
  readonly utf8Names: boolean;
  /** The gateway's own families (name → type), read at push time: pushes may not contradict them. */
  readonly ownTypes: () => ReadonlyMap<string, MetricType>;
}

/**
 * The Pushgateway's semantics over a MetricStore: sanitising, the consistency check, failure
 * bookkeeping, and keeping the scrape cache in step with what was committed.
 */
export class PushService {
  constructor(
    private readonly store: MetricStore,
    private readonly cache: ScrapeCache,
    private readonly options: PushServiceOptions,
  ) {}

  /** Fills the scrape cache from the store; call once before serving. */
  async load(): Promise<void> {
    this.cache.clear();
    for (const group of await this.store.loadGroups()) this.cache.applyWrite(group, group.families, []);
  }

  /**
   * Applies a push. Throws PushError: 'inconsistent' after recording the failure time on the
   * group (creating it if needed, as the official does), 'invalid' without recording anything.
   * Store outages propagate as StoreUnavailableError.
   */
  async push(request: PushRequest): Promise<void> {
    const { key, replace, timeSeconds } = request;
    let families: MetricFamily[];
    try {
      families = sanitizeFamilies(request.families, key, { utf8Names: this.options.utf8Names });
    } catch (err) {
      if (err instanceof PushError && err.kind === 'inconsistent') await this.recordFailure(key, timeSeconds);
      throw err;
    }
    const own = this.options.ownTypes();
    try {
      const result = await this.store.writePush({
        key,
        families,
        replace,
        timeSeconds,
        lookUpNames: namesToLookUp(families),
        check: (facts) => checkConsistency({ pushed: families, replace, own, ...facts }),
      });
      this.cache.applyWrite(result.group, result.written, result.removed);
    } catch (err) {
      if (err instanceof ConflictError) {
        await this.recordFailure(key, timeSeconds);
        throw new PushError('inconsistent', err.message);
      }
      throw err;
    }
  }

  /** Removes exactly one group (no prefix matching); a missing group is not an error. */
  async delete(key: GroupingKey): Promise<void> {
    const id = await this.store.deleteGroup(key);
    if (id !== undefined) this.cache.removeGroup(id);
  }

  /** The text 0.0.4 scrape body as blocks: pushed families merged with the gateway's own. */
  scrapeText(own: readonly MetricFamily[]): Block[] {
    return this.cache.render(own);
  }

  /** Changes whenever a committed write changed what a scrape shows. */
  scrapeVersion(): number {
    return this.cache.version;
  }

  groups(): Promise<StoredGroup[]> {
    return this.store.loadGroups();
  }

  private async recordFailure(key: GroupingKey, timeSeconds: number): Promise<void> {
    const header = await this.store.recordFailure(key, timeSeconds);
    this.cache.applyHeader(header);
  }
}
