/**
 * The retention sweep: a node-cron task (--retention.schedule, with seconds) that runs a list of
 * sweep steps one after the other. Removing expired groups is one step; other tables with rows
 * to age out (push history, for example) add their own with addStep. Runs never overlap: a sweep
 * still running when the next is due makes node-cron skip that one.
 */

import { createTask, type ScheduledTask } from 'node-cron';
import type { Logger } from '../util/logger.js';
import type { ExpiredGroup } from '../domain/stored-group.js';
import { systemClock, type Clock } from '../domain/retention-policy.js';

/** One kind of cleanup the sweep performs. A step that throws is logged and counted; the others still run. */
export interface SweepStep {
  /** Short and stable, for logs: `groups`, `push_history`. */
  readonly name: string;
  run(nowSeconds: number): Promise<void>;
}

/** Where the sweep reports (Telemetry provides them). */
export interface SweepMetrics {
  observeSweepSeconds(seconds: number): void;
  sweepFailed(): void;
}

export interface RetentionSweeperOptions {
  readonly schedule: string;
  readonly steps?: readonly SweepStep[];
  readonly metrics: SweepMetrics;
  readonly logger: Logger;
  readonly clock?: Clock;
}

export class RetentionSweeper {
  private readonly steps: SweepStep[];
  private readonly clock: Clock;
  private task: ScheduledTask | undefined;
  private running: Promise<boolean> | undefined;

  constructor(private readonly options: RetentionSweeperOptions) {
    this.steps = [...(options.steps ?? [])];
    this.clock = options.clock ?? systemClock;
  }

  /** Adds a step; it runs in every sweep from the next one on, after the steps already there. */
  addStep(step: SweepStep): void {
    this.steps.push(step);
  }

  /** Starts the schedule. */
  start(): void {
    if (this.task) return;
    const { logger } = this.options;
    this.task = createTask(this.options.schedule, () => this.sweep(), {
      name: 'pushkeep-retention-sweep',
      noOverlap: true,
      // A timer must not keep a process alive that is otherwise done.
      unref: true,
      logger: {
        info: (message) => logger.debug({ component: 'node-cron' }, message),
        // Missed and overlapping runs: expected under load, the next run catches up.
        warn: (message) => logger.debug({ component: 'node-cron' }, message),
        error: (message, err) => logger.error({ component: 'node-cron', err: err ?? message }, 'retention schedule error'),
        debug: (message) => logger.debug({ component: 'node-cron' }, String(message)),
      },
    });
    void this.task.start();
  }

  /** Stops the schedule and waits for a sweep in progress, so the database can be closed after it. */
  async stop(): Promise<void> {
    const task = this.task;
    this.task = undefined;
    if (task) await task.destroy();
    await this.running;
  }

  /**
   * Runs every step once now. Never throws: a failing step is logged and counted in
   * pushkeep_retention_sweep_failures_total. Resolves to whether every step succeeded. A call
   * while a sweep runs waits for that sweep instead of starting another.
   */
  sweep(): Promise<boolean> {
    this.running ??= this.runSteps().finally(() => (this.running = undefined));
    return this.running;
  }

  private async runSteps(): Promise<boolean> {
    const { metrics, logger } = this.options;
    const started = performance.now();
    const now = this.clock();
    let ok = true;
    for (const step of this.steps) {
      try {
        await step.run(now);
      } catch (err) {
        ok = false;
        metrics.sweepFailed();
        logger.error({ err, step: step.name }, 'retention sweep failed');
      }
    }
    metrics.observeSweepSeconds((performance.now() - started) / 1000);
    return ok;
  }
}

export interface ExpireGroupsStepOptions {
  /** Removes the groups expired at `nowSeconds` and returns them (PushService.expire). */
  readonly expire: (nowSeconds: number) => Promise<readonly ExpiredGroup[]>;
  /** Counts removed groups (pushkeep_groups_expired_total). */
  readonly countExpired: (count: number) => void;
  readonly logger: Logger;
}

/** The step that removes expired groups, logging each one. */
export function expireGroupsStep(options: ExpireGroupsStepOptions): SweepStep {
  return {
    name: 'groups',
    async run(nowSeconds) {
      const expired = await options.expire(nowSeconds);
      for (const group of expired) {
        options.logger.info(
          {
            group: group.key.id,
            last_push: group.pushTimeSeconds > 0 ? new Date(group.pushTimeSeconds * 1000).toISOString() : 'never',
            expired_at: new Date(group.expiresAtSeconds * 1000).toISOString(),
          },
          'group expired',
        );
      }
      if (expired.length > 0) options.countExpired(expired.length);
    },
  };
}
