import type { Insertable, Kysely, RawBuilder, SelectQueryBuilder, Transaction } from 'kysely';
import type { AggregationMode } from '../../domain/aggregation.js';
import type { GroupingKey } from '../../domain/grouping-key.js';
import type { MetricType } from '../../exposition/types.js';
import type { CompiledStatements, StatementRunner } from '../compiled-statements.js';
import type { Database, MetricGroupRow, PushAttemptTable } from '../schema.js';

/** A stored family as a push first reads it. */
export interface FamilyHead {
  readonly id: number;
  readonly name: string;
  readonly type: string;
  /** NULL for rows written before migration 0006. */
  readonly series_digest: string | null;
}

/** A metric_sample row's identity and value. */
export interface SampleValue {
  readonly metric_name: string;
  readonly labels_json: string;
  /** NULL for NaN. */
  readonly value: number | null;
}

/** A family a push inserts, with its samples. */
export interface FreshFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string | null;
  readonly pushed_at_seconds: number;
  readonly metrics_json: string;
  readonly rendered_series_json: string | null;
  readonly series_digest: string;
  readonly samples: readonly SampleValue[];
}

/** A stored family's columns as a push rewrites them in place (its name, type and series stay). */
export interface FamilyInPlace {
  readonly help: string | null;
  readonly pushed_at_seconds: number;
  readonly metrics_json: string;
  readonly rendered_series_json: string | null;
  readonly series_digest: string;
}

/** The families a push sends, as groupForPush may lock their names. */
export interface PushedFamilies {
  readonly pushed: readonly { readonly name: string; readonly type: MetricType }[];
  /** PUT: the group's other families go. */
  readonly replace: boolean;
}

/** A pushed group's row as updateFamilyInPlace may update it in the same statement. */
export interface GroupUpdate {
  readonly id: number;
  readonly push_time_seconds: number;
  readonly changed_seq: ChangeStamp;
  readonly ttl_seconds: number | null;
  readonly expires_at_seconds: number | null;
  /** Emptied by expiry: its failure time goes too. */
  readonly emptied: boolean;
  /** Set when the push changes it. */
  readonly aggregation?: AggregationMode;
}

/**
 * A push whose families the group holds with the same types and series (QuickPushes), as
 * StoreDialect.quickPush writes it.
 */
export interface QuickWrite {
  readonly groupId: number;
  /** The group's row version the push was prepared against. */
  readonly version: number;
  readonly pushTimeSeconds: number;
  readonly ttlSeconds: number | null;
  readonly expiresAtSeconds: number | null;
  /** Their names are locked shared, as lockPushedNames locks unchanged names. */
  readonly families: readonly { readonly id: number; readonly name: string; readonly row: FamilyInPlace; readonly samples: readonly SampleValue[] }[];
}

/** What a push is about to do to the name registry, for the databases that lock names. */
export interface PushedNames {
  /** Families the group holds now. */
  readonly existingRows: readonly FamilyHead[];
  readonly existing: ReadonlyMap<string, MetricType>;
  /** The pushed families' names and types. */
  readonly pushed: readonly { readonly name: string; readonly type: MetricType }[];
  /** PUT: the group's other families go. */
  readonly replace: boolean;
}

/** A push_attempt row as the history recorder writes it. */
export type HistoryRow = Omit<Insertable<PushAttemptTable>, 'id'>;

/** The columns of a HistoryRow, in the table's order. */
export const HISTORY_COLUMNS = [
  'time_seconds',
  'method',
  'path',
  'grouping_key',
  'job',
  'labels_json',
  'outcome',
  'status_code',
  'reason',
  'body_bytes',
  'series_count',
  'client_address',
] as const satisfies readonly (keyof HistoryRow)[];

/** A change number as a write stores it: a number, or an expression the database evaluates. */
export type ChangeStamp = number | RawBuilder<number>;

/**
 * Everything that differs between the databases Pushkeep runs on, as kysely's DialectAdapter
 * names its differences: the rest of the store is written once against this interface and never
 * asks which database it is on.
 */
export interface StoreDialect {
  /** For logs and messages; never to branch on. */
  readonly name: 'sqlite' | 'postgres';
  /**
   * Pushes arriving while a transaction runs are committed together, each in its own savepoint
   * when one fails: a single writer paying most of a push at COMMIT gains from it, parallel
   * writers do not.
   */
  readonly groupCommit: boolean;
  /**
   * How many bytes of push bodies are worth parsing and writing at once; undefined: no bound. A
   * store with one writer gains nothing from more pushes parsed and waiting for it than a group
   * commit holds, and each waiting push keeps its parsed series alive until its commit.
   */
  readonly pushBytesAtOnce?: number;
  /**
   * Other processes may write the same tables (replicas): readers follow the change feed instead
   * of trusting their own writes.
   */
  readonly shared: boolean;
  /**
   * The connection the change feed reads on, where it is not `db`: every scrape of a replica waits
   * for a feed read, which on the writers' pool would queue behind pushes for a connection.
   */
  readonly feed?: Kysely<Database> | undefined;
  /**
   * transaction() sends COMMIT behind statements still running that were sent through
   * statementRunner, and reports the first of them that failed: a write need not wait for them.
   */
  readonly commitChecksSent: boolean;
  /** Runs statements inside a transaction on its connection without kysely's executor, where there is one. */
  readonly statementRunner?: StatementRunner | undefined;

  /** A write transaction; retried where the database aborts one for a deadlock or serialization failure. */
  transaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  /** The group's row, created if missing and, with concurrent writers, locked until COMMIT. */
  lockGroup(trx: Transaction<Database>, key: GroupingKey, statements: CompiledStatements): Promise<MetricGroupRow>;
  /**
   * lockGroup plus the group's families, in as few round trips as the database allows. `pushed`:
   * the push's families, whose names a database that locks them may lock in the same statement,
   * as lockPushedNames would for the families returned (which then sends nothing).
   */
  groupForPush(
    trx: Transaction<Database>,
    key: GroupingKey,
    statements: CompiledStatements,
    pushed?: PushedFamilies,
  ): Promise<{ group: MetricGroupRow; families: FamilyHead[] }>;
  /**
   * Locks the names a push adds, changes or removes, so the consistency check sees them as at
   * COMMIT. The statements that follow may be sent before it settles: they run after it.
   */
  lockPushedNames(trx: Transaction<Database>, names: PushedNames, statements: CompiledStatements): Promise<void>;
  /** Locks these names exclusively (a group's families about to go). */
  lockNames(trx: Transaction<Database>, names: readonly string[]): Promise<void>;
  /** Locks every name exclusively: for writes that touch many groups (wipe, bulk delete). */
  lockAllNames(trx: Transaction<Database>): Promise<void>;
  /** The query's group rows locked until COMMIT where writers run concurrently; in id order, as every write takes them. */
  lockedRows<TB extends keyof Database, O>(query: SelectQueryBuilder<Database, TB, O>): SelectQueryBuilder<Database, TB, O>;

  /**
   * Sets new values on a family's stored samples, all of which exist (the push compared the
   * family's series digest), without touching an index. The statements that follow may be sent
   * before it settles.
   */
  updateValues(trx: Transaction<Database>, statements: CompiledStatements, familyId: number, samples: readonly SampleValue[]): Promise<void>;

  /**
   * The family's row rewritten and its samples' values set (updateValues) in one statement, where
   * the database can, and with `group`, the group's row updated in it too; without it, the caller
   * sends those statements itself. The statements that follow may be sent before it settles.
   * Resolves to the group's row version after the write where `group` was updated and the database
   * has versions (quickPush).
   */
  readonly updateFamilyInPlace?: (
    trx: Transaction<Database>,
    statements: CompiledStatements,
    familyId: number,
    family: FamilyInPlace,
    samples: readonly SampleValue[],
    group?: GroupUpdate,
  ) => Promise<number | undefined>;

  /**
   * A push that changes nothing but values (QuickWrite) as one statement of its own, committed
   * when it returns, applied only if the group's row is still at `version`; resolves to the row's
   * new version, or undefined when it was not applied (nothing was written). Where a database
   * has it, updateFamilyInPlace resolves to versions.
   */
  readonly quickPush?: (write: QuickWrite) => Promise<number | undefined>;

  /**
   * Inserts a group's new families and their samples (none of these names is in the group). The
   * statements that follow may be sent before it settles.
   */
  insertFamilies(trx: Transaction<Database>, statements: CompiledStatements, groupId: number, families: readonly FreshFamily[]): Promise<void>;

  /**
   * Appends push attempts and their grouping labels but job (push_attempt_label) in one statement,
   * atomically, where the database can; without it, the history store inserts the attempts, reads
   * their ids back and inserts the labels, in a transaction.
   */
  readonly appendHistory?: (db: Kysely<Database>, rows: readonly HistoryRow[]) => Promise<void>;

  /** Takes the next change number (change-feed.ts) and reads the tombstone pruning mark. */
  bumpVersion(trx: Transaction<Database>): Promise<{ seq: number; pruned_seq: number }>;
  /** bumpVersion's number as a value to store; an expression where that saves a round trip. */
  changeStamp(trx: Transaction<Database>): Promise<ChangeStamp>;
  /**
   * A one-row SELECT of `0 AS kind, <horizon> AS id, 0 AS seq`: every write numbered below the
   * horizon is committed and visible in the snapshot of the statement it is part of.
   */
  horizonRow(): RawBuilder<unknown>;
  /** Wraps a read of the whole store (a start) with whatever makes it faster on this database. */
  fullRead<T>(db: Kysely<Database>, pages: () => AsyncGenerator<T>): AsyncGenerator<T>;
}
