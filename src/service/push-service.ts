import type { EscapingScheme } from '../exposition/name-escaping.js';
import type { ScrapeFormat } from '../exposition/negotiate.js';
import type { MetricFamily, MetricType } from '../exposition/types.js';
import type { Block } from '../render/gzip-blocks.js';
import { renderSeries, toStored, type RenderedSeries } from '../render/rendered-series.js';
import type { ScrapeCache } from '../render/scrape-cache.js';
import {
  ConflictError,
  IdempotentReplay,
  type IdempotencyRecord,
  type ExpiredGroup,
  type ExpiryOf,
  type GroupHeader,
  type MetricStore,
  type PushWrite,
  type StoredGroup,
  type WriteResult,
  WriteRefusedError,
} from '../store/metric-store.js';
import { NO_RETENTION, RetentionPolicy, systemClock } from '../domain/retention-policy.js';
import { checkConsistency, namesToLookUp } from '../domain/consistency.js';
import type { GroupingKey } from '../domain/grouping-key.js';
import { matchesAny, type GroupSelector } from '../domain/group-matcher.js';
import { PushError } from '../domain/push-error.js';
import { CapacityGuard, checkPushShape, LimitError, type PushLimits } from '../domain/push-limits.js';
import { sanitizeFamilies } from '../domain/push-rules.js';
import { AggregationConflictError, AggregationError, type AggregationPolicy } from '../domain/aggregation.js';
import { CacheFeed } from './cache-feed.js';
import { PushRefusedError, type IdempotentRequest, type PushOutcome, type PushRequest } from './push-request.js';

export interface PushServiceOptions {
  readonly utf8Names: boolean;
  /** The gateway's own families (name → type), read at push time: pushes may not contradict them. */
  readonly ownTypes: () => ReadonlyMap<string, MetricType>;
  /** Refuse pushes over these limits (LimitError); absent means no limits. */
  readonly limits?: PushLimits;
  /** When groups expire (domain/retention-policy.ts); absent means only a Pushkeep-TTL header makes one expire. */
  readonly retention?: RetentionPolicy;
  /**
   * Other processes write the same store (replicas on PostgreSQL): the scrape cache then follows
   * the store's change counter (refresh) instead of this process's own writes.
   */
  readonly shared?: boolean;
  /** --aggregation.rule: the mode of a group created without a Pushkeep-Aggregation header; absent = replace. */
  readonly aggregation?: AggregationPolicy;
  /** --push.idempotency-window in seconds: how long an Idempotency-Key is kept (0 = keys are ignored). */
  readonly idempotencyWindowSeconds?: number;
}

const DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 86_400;

/** What recording a refused push's failure on its group needs of the request. */
type FailedGroup = Pick<PushRequest, 'key' | 'timeSeconds' | 'ttlSeconds'>;

interface PreparedPush {
  readonly write: PushWrite;
  /** The renderings the store's transaction made of the families it wrote. */
  readonly rendered: Map<string, RenderedSeries>;
  readonly release: () => void;
}

/**
 * The Pushgateway's semantics over a MetricStore: sanitising, the consistency check, failure
 * bookkeeping, and keeping the scrape cache in step with what was committed.
 */
export class PushService {
  private readonly capacity: CapacityGuard | undefined;
  private readonly retention: RetentionPolicy;
  /** The groups of the start's full load, until applyRetention has used them. */
  private loadedHeaders: readonly GroupHeader[] | undefined;
  private readonly feed: CacheFeed;
  /** Local writes go straight into the cache only when nobody else writes the store. */
  private readonly applyLocally: boolean;

  constructor(
    private readonly store: MetricStore,
    private readonly cache: ScrapeCache,
    private readonly options: PushServiceOptions,
  ) {
    this.capacity = options.limits ? new CapacityGuard(options.limits) : undefined;
    this.retention = options.retention ?? new RetentionPolicy(NO_RETENTION, systemClock);
    this.applyLocally = !options.shared;
    this.feed = new CacheFeed(store, cache);
  }

  /**
   * Fills the scrape cache from the store; call once before serving. `yieldBetweenPages` lets the
   * event loop answer (or queue) requests between the pages of a long load.
   */
  async load(options: { readonly yieldBetweenPages?: boolean } = {}): Promise<void> {
    this.loadedHeaders = await this.feed.load(options.yieldBetweenPages ?? false);
  }

  /**
   * Brings the scrape cache up to date with writes other replicas committed; call before serving
   * a scrape. Costs one query on a shared store, nothing on an unshared one (its only writer
   * keeps the cache current). Rejects with StoreUnavailableError when the store cannot be read.
   *
   * A scrape never misses a write acknowledged before it started (CacheFeed.refresh).
   */
  refresh(): Promise<void> {
    return this.applyLocally ? Promise.resolve() : this.feed.refresh();
  }

  /**
   * Applies a push. Throws PushError: 'inconsistent' after recording the failure time on the
   * group (creating it if needed, as the official does), 'invalid' without recording anything.
   * Store outages propagate as StoreUnavailableError.
   */
  push(request: PushRequest): Promise<PushOutcome> {
    // Not async: an async function keeps its arguments until it returns, and the parsed families
    // (request.families, garbage once sanitized) would live as long as the push waits for its commit.
    return this.write(this.prepare(request), { key: request.key, timeSeconds: request.timeSeconds, ttlSeconds: request.ttlSeconds });
  }

  private async write(preparing: Promise<PreparedPush>, group: FailedGroup): Promise<PushOutcome> {
    const prepared = await preparing;
    try {
      this.applied(prepared, await this.store.writePush(prepared.write));
      return {};
    } catch (err) {
      if (err instanceof IdempotentReplay) return { replayedStatus: err.status };
      throw await this.refused(group, err);
    } finally {
      prepared.release();
    }
  }

  /**
   * Applies pushes to different groups in one transaction: all of them or none (an OTLP export
   * naming several resources). A refused push is recorded on its group as push() does, and
   * thrown as PushRefusedError naming it; nothing of the others is stored.
   */
  pushAll(requests: readonly PushRequest[]): Promise<void> {
    // Not async, as push(): the requests' parsed families must not live through the commit wait.
    return this.writeAll(
      this.prepareAll(requests),
      requests.map((r) => ({ key: r.key, timeSeconds: r.timeSeconds, ttlSeconds: r.ttlSeconds })),
    );
  }

  /** The requests prepared one after another; a refusal is a PushRefusedError naming its request. */
  private async prepareAll(requests: readonly PushRequest[]): Promise<PreparedPush[]> {
    const prepared: PreparedPush[] = [];
    for (let i = 0; i < requests.length; i++) {
      try {
        prepared.push(await this.prepare(requests[i]!));
      } catch (err) {
        for (const p of prepared) p.release();
        throw new PushRefusedError(i, err);
      }
    }
    return prepared;
  }

  private async writeAll(preparing: Promise<PreparedPush[]>, groups: readonly FailedGroup[]): Promise<void> {
    const prepared = await preparing;
    try {
      let results: WriteResult[];
      try {
        // One push takes writePush, which commits concurrent pushes together where the store can.
        results = prepared.length === 1 ? [await this.store.writePush(prepared[0]!.write)] : await this.store.writePushes(prepared.map((p) => p.write));
      } catch (err) {
        if (err instanceof WriteRefusedError) throw new PushRefusedError(err.index, await this.refused(groups[err.index]!, err.error));
        if (prepared.length === 1) throw new PushRefusedError(0, await this.refused(groups[0]!, err));
        throw err;
      }
      for (let i = 0; i < results.length; i++) this.applied(prepared[i]!, results[i]!);
    } finally {
      for (const p of prepared) p.release();
    }
  }

  /** A push sanitised, checked against the limits (holding a capacity reservation) and rendered, ready for the store. */
  private async prepare(request: PushRequest): Promise<PreparedPush> {
    const { key, replace, timeSeconds } = request;
    let families: MetricFamily[];
    try {
      families = sanitizeFamilies(request.families, key, { utf8Names: this.options.utf8Names });
    } catch (err) {
      if (err instanceof PushError && err.kind === 'inconsistent') await this.recordFailure(key, timeSeconds, request.ttlSeconds);
      throw err;
    }
    const release = await this.enforceLimits(key, families, replace, timeSeconds);
    const own = this.options.ownTypes();
    const initial = request.aggregation ?? this.options.aggregation?.modeFor(key) ?? 'replace';
    // Rendered once, for both the store (a start then reads it instead of rendering) and the cache,
    // by the store's transaction as it writes each family (a summed one's values only it knows):
    // rendered here, the series' texts would live as long as the push waits for its commit, and
    // what the pushes waiting together keep alive is what each young-generation collection copies.
    const rendered = new Map<string, RenderedSeries>();
    const render = (family: MetricFamily) => {
      const series = renderSeries(family);
      rendered.set(family.name, series);
      return toStored(series);
    };
    const idempotency = this.idempotencyRecord(request.idempotency, timeSeconds);
    const write: PushWrite = {
      key,
      families,
      replace,
      timeSeconds,
      lookUpNames: (existing) => namesToLookUp(families, existing),
      check: (facts) => checkConsistency({ pushed: families, replace, own, ...facts }),
      ...(request.ttlSeconds !== undefined ? { ttlSeconds: request.ttlSeconds } : {}),
      expiry: this.expiryOf(key, timeSeconds, request.ttlSeconds),
      aggregation: { requested: request.aggregation, initial },
      ...(request.addFamilies && request.addFamilies.size > 0 ? { addFamilies: request.addFamilies } : {}),
      render,
      ...(idempotency ? { idempotency } : {}),
    };
    return { write, rendered, release };
  }

  /** Brings the cache in step with a committed push. */
  private applied(prepared: PreparedPush, result: WriteResult): void {
    if (this.applyLocally) this.cache.applyWrite(result.group, result.written, result.removed, prepared.rendered);
  }

  /** What a push the store refused throws, after recording the failure where a failed push records one. */
  private async refused(request: FailedGroup, err: unknown): Promise<unknown> {
    if (err instanceof ConflictError) {
      await this.recordFailure(request.key, request.timeSeconds, request.ttlSeconds);
      return new PushError('inconsistent', err.message);
    }
    // A sum refused (bounds, increments) or a mode contradicted: a failed push of the group, as an inconsistent one.
    if (err instanceof AggregationError || err instanceof AggregationConflictError)
      await this.recordFailure(request.key, request.timeSeconds, request.ttlSeconds);
    return err;
  }

  /**
   * Per-push and store-wide limits. A refused push changes nothing but the failure time of its
   * group, and only of a group that exists: a refusal never creates a group (that would defeat
   * storage.max-groups). Returns the release of the push's capacity reservation.
   */
  private async enforceLimits(key: GroupingKey, families: readonly MetricFamily[], replace: boolean, timeSeconds: number): Promise<() => void> {
    const limits = this.options.limits;
    if (!limits || !this.capacity) return () => {};
    let stored: StoredGroup | undefined | null = null;
    const group = async () => (stored === null ? (stored = await this.store.loadGroup(key)) : stored);
    try {
      const pushedSeries = checkPushShape(families, limits);
      return await this.capacity.reserve(this.cache.stats(), pushedSeries, async () => {
        const g = await group();
        if (!g) return { exists: false, replacedSeries: 0 };
        const pushed = new Set(families.map((f) => f.name));
        let replacedSeries = 0;
        for (const f of g.families) if (replace || pushed.has(f.name)) replacedSeries += f.metrics.length;
        return { exists: true, replacedSeries };
      });
    } catch (err) {
      if (err instanceof LimitError && (await group())) await this.recordFailure(key, timeSeconds);
      throw err;
    }
  }

  /** Removes exactly one group (no prefix matching); a missing group is not an error. */
  async delete(key: GroupingKey, request?: { readonly timeSeconds: number; readonly idempotency?: IdempotentRequest | undefined }): Promise<void> {
    const idempotency = request ? this.idempotencyRecord(request.idempotency, request.timeSeconds) : undefined;
    const id = await this.store.deleteGroup(key, idempotency, request?.timeSeconds);
    if (id !== undefined && this.applyLocally) this.cache.removeGroup(id);
  }

  private idempotencyRecord(request: IdempotentRequest | undefined, timeSeconds: number): IdempotencyRecord | undefined {
    const window = this.options.idempotencyWindowSeconds ?? DEFAULT_IDEMPOTENCY_WINDOW_SECONDS;
    if (!request || window <= 0) return undefined;
    return { key: request.key, fingerprint: request.fingerprint, status: request.status, expiresAtSeconds: timeSeconds + window };
  }

  /** The scrape body in a negotiated format (text 0.0.4, OpenMetrics 1.0.0, protobuf delimited) as blocks. */
  scrape(format: ScrapeFormat, own: readonly MetricFamily[], escaping: EscapingScheme = 'underscores'): Block[] {
    return this.cache.render(own, format, escaping);
  }

  /**
   * The scrape of the groups `scope` matches only, with their timestamp gauges and without the
   * gateway's own families: what a scoped credential's Prometheus sees. Rendered per call from the
   * cached series (the pre-joined blocks hold every group); unscoped scrapes use scrape().
   */
  scrapeScoped(format: ScrapeFormat, scope: GroupSelector, escaping: EscapingScheme = 'underscores'): Block[] {
    return this.cache.renderMatching(format, (key) => scope.matches(key), escaping);
  }

  /** Changes whenever a committed write changed what a scrape shows. */
  scrapeVersion(): number {
    this.cache.expireDue();
    return this.cache.version;
  }

  /**
   * Every live group with its families, ordered by grouping key (a group past its expiry is gone);
   * with a scope, only the groups it matches.
   */
  async groups(scope?: GroupSelector): Promise<StoredGroup[]> {
    if (scope === undefined) return this.live(await this.store.loadGroups());
    // Headers first: a team's read costs loading its own groups' families, not everyone's.
    return this.groupsById((await this.groupHeaders(scope)).map((h) => h.id));
  }

  /** Every live group without its families (cheap: for listings and selection); with a scope, only those it matches. */
  async groupHeaders(scope?: GroupSelector): Promise<GroupHeader[]> {
    const live = this.live(await this.store.loadHeaders());
    return scope === undefined ? live : live.filter((h) => scope.matches(h.key));
  }

  /** The given live groups with their families, ordered by grouping key; ids gone meanwhile are skipped. */
  async groupsById(ids: readonly number[]): Promise<StoredGroup[]> {
    return this.live(await this.store.loadGroupsById(ids));
  }

  private live<T extends GroupHeader>(groups: T[]): T[] {
    const now = this.retention.now();
    return groups.filter((g) => !this.retention.isExpired(g.expiresAtSeconds, now));
  }

  /**
   * Removes the groups whose expiry time is at or before `nowSeconds` (retention's sweep) and
   * returns those this call removed: with replicas sweeping the same database, each group is
   * returned by exactly one of them.
   */
  async expire(nowSeconds: number): Promise<ExpiredGroup[]> {
    const expired = await this.store.deleteExpired(nowSeconds);
    if (this.applyLocally) for (const g of expired) this.cache.removeGroup(g.id);
    return expired;
  }

  /**
   * Recomputes every group's expiry under the current retention settings (they may have changed
   * since the group's last push): call at startup, before expire(). Right after load() it works
   * on the groups load() read instead of reading them again. Returns how many changed.
   */
  async applyRetention(): Promise<number> {
    const headers = this.loadedHeaders ?? (await this.store.loadHeaders());
    this.loadedHeaders = undefined;
    const updates = [];
    const updated: GroupHeader[] = [];
    for (const header of headers) {
      const expiresAtSeconds = this.retention.expiryOf(header);
      if (expiresAtSeconds === header.expiresAtSeconds) continue;
      updates.push({ id: header.id, pushTimeSeconds: header.pushTimeSeconds, pushFailureTimeSeconds: header.pushFailureTimeSeconds, expiresAtSeconds });
      const { expiresAtSeconds: _old, ...rest } = header;
      updated.push(expiresAtSeconds === undefined ? rest : { ...rest, expiresAtSeconds });
    }
    const changed = await this.store.setExpiries(updates);
    // The cache was filled before: it takes the new expiries too. A group another replica wrote
    // meanwhile kept its own expiry in the store, and that write's stamp reloads it at the next
    // refresh.
    for (const header of updated) this.cache.applyHeader(header);
    return changed;
  }

  /** The store's callback for a group's expiry after a push (or first failure) at `timeSeconds`. */
  private expiryOf(key: GroupingKey, timeSeconds: number, headerSeconds: number | undefined): ExpiryOf {
    return (storedSeconds) => this.retention.expiresAt(key, { headerSeconds, storedSeconds }, timeSeconds);
  }

  /**
   * Removes every group in one transaction (the admin wipe); returns how many there were. With a
   * scope, only the groups it matches.
   */
  async wipe(scope?: GroupSelector): Promise<number> {
    if (scope !== undefined) return this.deleteMatching([], undefined, scope);
    const ids = await this.store.deleteAll();
    if (this.applyLocally) for (const id of ids) this.cache.removeGroup(id);
    return ids.length;
  }

  /**
   * Removes, in one transaction, every group matching any of the selectors (all groups when none
   * is given) whose last successful push is older than `pushedBeforeSeconds` (when given). A
   * group that never had a successful push counts as older than any age. A scope (a scoped
   * credential's) narrows that selection to the groups it also matches. Returns the number removed.
   */
  async deleteMatching(selectors: readonly GroupSelector[], pushedBeforeSeconds?: number, scope?: GroupSelector): Promise<number> {
    const ids: number[] = [];
    for (const header of await this.store.loadHeaders()) {
      if (selectors.length > 0 && !matchesAny(selectors, header.key)) continue;
      if (scope !== undefined && !scope.matches(header.key)) continue;
      if (pushedBeforeSeconds !== undefined && header.pushTimeSeconds >= pushedBeforeSeconds) continue;
      ids.push(header.id);
    }
    const deleted = await this.store.deleteGroupsById(ids, pushedBeforeSeconds);
    if (this.applyLocally) for (const id of deleted) this.cache.removeGroup(id);
    return deleted.length;
  }

  /** Resolves when the database can be written (liveness). */
  checkWritable(): Promise<void> {
    return this.store.checkWritable();
  }

  /** Resolves when the database answers a query (readiness). */
  ping(): Promise<void> {
    return this.store.ping();
  }

  private async recordFailure(key: GroupingKey, timeSeconds: number, ttlSeconds?: number): Promise<void> {
    const header = await this.store.recordFailure(key, timeSeconds, this.expiryOf(key, timeSeconds, ttlSeconds));
    if (!this.applyLocally) return;
    // A group without a successful push has no families: if the cache still holds some, the
    // group had expired and the store emptied it.
    if (header.pushTimeSeconds === 0) this.cache.removeGroup(header.id);
    this.cache.applyHeader(header);
  }
}
