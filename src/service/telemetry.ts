import client from 'prom-client';
import { LIMIT_NAMES } from '../domain/push-limits.js';
import { parseText } from '../exposition/text-parser.js';
import type { MetricFamily, MetricType } from '../exposition/types.js';

export interface TelemetryOptions {
  readonly version: string;
  /** Groups and series currently stored, read at scrape time. */
  readonly storeStats: () => { groups: number; series: number };
  readonly databaseSizeBytes: () => Promise<number>;
}

export interface OwnSnapshot {
  /** Changes whenever the families are collected again. */
  readonly id: number;
  readonly takenAt: number;
  readonly families: readonly MetricFamily[];
}

export type HandlerName =
  | 'push'
  | 'delete'
  | 'healthy'
  | 'ready'
  | 'static'
  | 'status'
  | 'wipe'
  | 'api/v1/status'
  | 'api/v1/metrics'
  | 'api/v1/options'
  | 'api/v1/admin'
  | 'api/v1/history'
  | 'history';

/**
 * The gateway's own metrics, in a registry the app owns (never prom-client's global one). Names,
 * labels and HELP texts are the official gateway's, so existing dashboards keep working.
 */
export class Telemetry {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<'code' | 'handler' | 'method'>;
  readonly pushDuration: client.Summary<'method'>;
  readonly pushSize: client.Summary<'method'>;
  readonly limitRejections: client.Counter<'limit'>;
  /** Retention (service/retention-sweeper.ts): groups removed by the sweep, its duration and its failures. */
  readonly groupsExpired: client.Counter;
  readonly sweepDuration: client.Histogram;
  readonly sweepFailures: client.Counter;
  private ownTypeCache: Map<string, MetricType> | undefined;
  private lastSnapshot: OwnSnapshot | undefined;
  private snapshotCount = 0;

  constructor(options: TelemetryOptions) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    // Gauges named *_total fail `promtool check metrics`; the same values are exported without
    // the suffix (nodejs_active_handles and friends).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
    new client.Gauge({
      name: 'pushgateway_build_info',
      help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which pushgateway was built, and the goos and goarch for the build.",
      labelNames: ['branch', 'goarch', 'goos', 'goversion', 'revision', 'version'],
      registers,
    }).set(
      {
        branch: 'main',
        goarch: process.arch,
        goos: process.platform,
        goversion: `node${process.versions.node}`,
        revision: 'pushkeep',
        version: options.version,
      },
      1,
    );
    this.requests = new client.Counter({
      name: 'pushgateway_http_requests_total',
      help: 'Total HTTP requests processed by the Pushgateway, excluding scrapes.',
      labelNames: ['code', 'handler', 'method'],
      registers,
    });
    this.pushDuration = new client.Summary({
      name: 'pushgateway_http_push_duration_seconds',
      help: 'HTTP request duration for pushes to the Pushgateway.',
      labelNames: ['method'],
      percentiles: [0.1, 0.5, 0.9],
      registers,
    });
    this.pushSize = new client.Summary({
      name: 'pushgateway_http_push_size_bytes',
      help: 'HTTP request size for pushes to the Pushgateway.',
      labelNames: ['method'],
      percentiles: [0.1, 0.5, 0.9],
      registers,
    });
    this.limitRejections = new client.Counter({
      name: 'pushkeep_limit_rejections_total',
      help: 'Requests refused by a limit, by the flag that sets it.',
      labelNames: ['limit'],
      registers,
    });
    // Every limit shows from the start, so rate() and alerts see a 0 before the first refusal.
    for (const limit of LIMIT_NAMES) this.limitRejections.inc({ limit }, 0);
    this.groupsExpired = new client.Counter({
      name: 'pushkeep_groups_expired_total',
      help: 'Groups deleted by the retention sweep because their expiry time had passed.',
      registers,
    });
    this.sweepDuration = new client.Histogram({
      name: 'pushkeep_retention_sweep_duration_seconds',
      help: 'Duration of retention sweeps (every step: expired groups and other aged rows).',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.sweepFailures = new client.Counter({
      name: 'pushkeep_retention_sweep_failures_total',
      help: 'Retention sweep steps that failed (database unavailable, for example); the next sweep retries.',
      registers,
    });
    new client.Gauge({
      name: 'pushkeep_groups',
      help: 'Number of groups stored.',
      registers,
      collect() {
        this.set(options.storeStats().groups);
      },
    });
    new client.Gauge({
      name: 'pushkeep_series',
      help: 'Number of pushed series stored.',
      registers,
      collect() {
        this.set(options.storeStats().series);
      },
    });
    new client.Gauge({
      name: 'pushkeep_database_size_bytes',
      help: 'Size of the database in bytes (SQLite file and WAL, or the PostgreSQL database).',
      registers,
      async collect() {
        try {
          this.set(await options.databaseSizeBytes());
        } catch {
          // An unreachable database is reported by /-/healthy; the scrape still answers.
        }
      },
    });
  }

  /**
   * The own families as our data model, so they merge with pushed ones in one sorted scrape and
   * print floats the same way.
   */
  async families(): Promise<MetricFamily[]> {
    return parseText(await this.registry.metrics());
  }

  /**
   * The own families, collected at most once per `maxAgeMs`: collecting reads /proc and costs
   * more than serving a cached 100k-series scrape. Scrapes within that window see the same
   * self-metrics; pushed metrics are never delayed by it.
   */
  async snapshot(maxAgeMs = 1000): Promise<OwnSnapshot> {
    const now = performance.now();
    if (!this.lastSnapshot || now - this.lastSnapshot.takenAt >= maxAgeMs) {
      this.lastSnapshot = { id: ++this.snapshotCount, takenAt: now, families: await this.families() };
    }
    return this.lastSnapshot;
  }

  /** Own family names and types, for the push-time consistency check. */
  ownTypes(): ReadonlyMap<string, MetricType> {
    if (!this.ownTypeCache) {
      this.ownTypeCache = new Map(this.registry.getMetricsAsArray().map((m) => [m.name, String(m.type) as MetricType] as const));
    }
    return this.ownTypeCache;
  }
}
