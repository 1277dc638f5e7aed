import { settleMode } from '../domain/aggregation.js';
import { isExpired } from '../domain/expiry.js';
import type { MetricType } from '../exposition/types.js';
import type { FamilyHead, QuickWrite, StoreDialect } from './dialect/store-dialect.js';
import type { PushWrite, WriteResult } from './metric-store.js';
import { familyInPlace, pushedExpiry, pushResult } from './push-writer.js';
import { familySamples } from './sample-values.js';
import type { MetricGroupRow } from './schema.js';
import { seriesDigest } from './series-digest.js';

// Groups remembered, least recently pushed dropped first: a few hundred bytes each.
const MAX_GROUPS = 4096;
// A group with more families is not remembered: what it would hold grows with them, and such
// groups are rarely re-pushed often.
const MAX_FAMILIES = 64;

/** A group as a push of this process left it: its row, that row's version, and its families. */
export interface RememberedGroup {
  readonly row: MetricGroupRow;
  readonly version: number;
  readonly families: readonly FamilyHead[];
}

/**
 * The periodic re-push (the same families, types and series, new values) without a transaction,
 * where the dialect can write it as one statement (StoreDialect.quickPush). The groups this
 * process last wrote are remembered with their row's version; a push to one that changes nothing
 * but values and timestamps is checked against what is remembered, here, as the transaction would
 * check it against what it reads, and written only if the row is still at that version. A group
 * another writer changed since (another replica, a delete, the retention sweeper) is forgotten and
 * the push takes the transaction. What is remembered is only ever a guess that the database
 * confirms: forgetting is always safe.
 */
export class QuickPushes {
  private readonly groups = new Map<string, RememberedGroup>();
  /** The last quick push of each group still running: the next waits for it. */
  private readonly writing = new Map<string, Promise<unknown>>();

  constructor(private readonly quickPush: NonNullable<StoreDialect['quickPush']>) {}

  /** After a committed push left the group as `group` says. */
  remember(key: string, group: RememberedGroup | undefined): void {
    this.groups.delete(key);
    if (group === undefined || group.families.length > MAX_FAMILIES) return;
    if (this.groups.size >= MAX_GROUPS) this.groups.delete(this.groups.keys().next().value!);
    this.groups.set(key, group);
  }

  forget(key: string): void {
    this.groups.delete(key);
  }

  /**
   * The push written and committed, or undefined when it must take the transaction (nothing was
   * written): the group is not remembered, the push changes more than values, the group changed
   * since, or the statement met a deadlock. Rejects, with nothing written, when the database
   * cannot be reached.
   */
  async write(write: PushWrite): Promise<WriteResult | undefined> {
    // Pushes of one group from this process, one after the other: each is prepared against what
    // the one before it left, instead of against the version it replaces.
    const key = write.key.id;
    const before = this.writing.get(key);
    const written = before ? before.then(() => this.writeNow(write)) : this.writeNow(write);
    const settled = written.catch(() => undefined);
    this.writing.set(key, settled);
    try {
      return await written;
    } finally {
      if (this.writing.get(key) === settled) this.writing.delete(key);
    }
  }

  private async writeNow(write: PushWrite): Promise<WriteResult | undefined> {
    const known = this.groups.get(write.key.id);
    if (known === undefined || write.idempotency !== undefined || write.addFamilies !== undefined) return undefined;
    const quick = this.prepare(write, known);
    if (quick === undefined) return undefined;
    let version: number | undefined;
    try {
      version = await this.quickPush(quick.statement);
    } catch (err) {
      this.groups.delete(write.key.id);
      throw err;
    }
    if (version === undefined) {
      this.groups.delete(write.key.id);
      return undefined;
    }
    const result = quick.result;
    this.remember(write.key.id, { row: { ...quick.updated, changed_seq: version }, version, families: known.families });
    return result;
  }

  /** What applyPush would write, if the push changes nothing but values on the group as remembered. */
  private prepare(write: PushWrite, known: RememberedGroup) {
    const { row } = known;
    // As applyPush: an expired group is emptied, an aggregating group's POST adds to what is stored.
    if (isExpired(row.expires_at_seconds, write.timeSeconds)) return undefined;
    let mode;
    try {
      mode = settleMode(write.key.id, row.push_time_seconds === 0 ? undefined : row.aggregation, write.aggregation ?? { initial: 'replace' });
    } catch {
      return undefined;
    }
    if (mode !== row.aggregation || (mode === 'sum' && !write.replace)) return undefined;
    const byName = new Map(known.families.map((f) => [f.name, f] as const));
    if (write.replace && new Set(write.families.map((f) => f.name)).size !== byName.size) return undefined;
    const existing = new Map<string, MetricType>();
    for (const f of known.families) existing.set(f.name, f.type as MetricType);
    const heads: FamilyHead[] = [];
    for (const family of write.families) {
      const head = byName.get(family.name);
      if (head === undefined || head.type !== family.type || head.series_digest === null) return undefined;
      heads.push(head);
    }
    // The names are unchanged, so the check reads no registry entry (lookUpNames), as in applyPush.
    if (write.check && (write.lookUpNames(existing).length > 0 || write.check({ existing, registry: new Map() }) !== undefined)) return undefined;
    const families: QuickWrite['families'][number][] = [];
    for (const [i, family] of write.families.entries()) {
      const samples = familySamples(family);
      if (samples.length === 0 || seriesDigest(samples) !== heads[i]!.series_digest) return undefined;
      families.push({ id: heads[i]!.id, name: family.name, row: familyInPlace(write, family, heads[i]!.series_digest!), samples });
    }
    const expiry = pushedExpiry(row, write, false);
    const statement: QuickWrite = {
      groupId: row.id,
      version: known.version,
      pushTimeSeconds: write.timeSeconds,
      ttlSeconds: expiry.ttl_seconds,
      expiresAtSeconds: expiry.expires_at_seconds,
      families,
    };
    const { updated, result } = pushResult(row, write, write.families, expiry, false, mode, [], []);
    return { statement, updated, result };
  }
}
