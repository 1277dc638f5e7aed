import type { Logger } from '../util/logger.js';
import { fileStamp, loadWebConfig, type WebConfig } from './web-config.js';

/** How often, at most, the config file and the files it names are looked at for changes. */
const CHECK_INTERVAL_MS = 1000;

/**
 * The current web config, re-read when the file (or a certificate, key or CA file it names)
 * changes. The toolkit re-reads the file on every request and answers 500 while it is broken;
 * here a stat of the files at most once a second notices edits and rotated certificates, and a
 * broken edit is logged and ignored, so the last good config keeps serving.
 */
export class WebConfigSource {
  private config: WebConfig;
  private stamp: string;
  private checkedAt = 0;
  private readonly listeners: ((config: WebConfig) => void)[] = [];

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {
    this.config = loadWebConfig(file);
    this.stamp = fileStamp(this.watched());
    this.checkedAt = performance.now();
  }

  /** The config in force; checks for changes when the last check is older than a second. */
  current(): WebConfig {
    const now = performance.now();
    if (now - this.checkedAt >= CHECK_INTERVAL_MS) {
      this.checkedAt = now;
      const stamp = fileStamp(this.watched());
      if (stamp !== this.stamp) {
        this.stamp = stamp;
        this.reload();
      }
    }
    return this.config;
  }

  /** Called after every successful reload, e.g. to give the TLS server its new certificate. */
  onReload(listener: (config: WebConfig) => void): void {
    this.listeners.push(listener);
  }

  private reload(): void {
    let next: WebConfig;
    try {
      next = loadWebConfig(this.file);
    } catch (err) {
      this.logger.error({ file: this.file, err: (err as Error).message }, 'web config file changed but cannot be used; keeping the previous one');
      return;
    }
    if (Boolean(next.tls) !== Boolean(this.config.tls)) {
      this.logger.error({ file: this.file }, 'web config file changed TLS on or off; that needs a restart, keeping the previous one');
      return;
    }
    if (next.tls && this.config.tls && next.tls.clientAuth !== this.config.tls.clientAuth) {
      this.logger.warn({ file: this.file }, 'client_auth_type changed; the new value applies after a restart');
    }
    this.config = next;
    this.stamp = fileStamp(this.watched());
    this.logger.info({ file: this.file }, 'web config file reloaded');
    for (const listener of this.listeners) listener(next);
  }

  private watched(): string[] {
    return [this.file, ...(this.config.tls?.files ?? [])];
  }
}
