import express from 'express';
import type { Telemetry } from '../service/telemetry.js';
import { sendPlainError } from './plain-error.js';

export interface HealthRouterOptions {
  readonly telemetry: Telemetry;
  /** Liveness: resolves when the database can be written; rejects with the reason otherwise. */
  readonly checkHealthy: () => Promise<void>;
  /** Readiness: resolves when the database answers queries. */
  readonly checkReady: () => Promise<void>;
  /** True once migrations ran and the scrape cache is loaded. */
  readonly isReady: () => boolean;
  readonly lifecycle: boolean;
  readonly quit: () => void;
  /** Re-reads what can change without a restart; rejects with the reason when that fails. */
  readonly reload: () => Promise<void>;
}

const PROBE_ALLOW = 'GET, OPTIONS';

/** /-/healthy, /-/ready, /-/quit and /-/reload, answered as the official gateway (and Prometheus) do. */
export function healthRouter(options: HealthRouterOptions): express.Router {
  const router = express.Router({ caseSensitive: true, strict: true });
  const plain = (res: express.Response, status: number, body: string) => res.status(status).set('Content-Type', 'text/plain; charset=utf-8').send(body);
  const count = (handler: 'healthy' | 'ready', code: number) => options.telemetry.requests.inc({ code: String(code), handler, method: 'get' });

  const probe =
    (handler: 'healthy' | 'ready', check: () => Promise<void>): express.RequestHandler =>
    async (req, res) => {
      if (req.method === 'OPTIONS') return void res.set('Allow', PROBE_ALLOW).status(200).end();
      // HEAD too: the official never routes it.
      if (req.method !== 'GET') {
        res.set('Allow', PROBE_ALLOW);
        return sendPlainError(res, 405, 'Method Not Allowed');
      }
      if (handler === 'ready' && !options.isReady()) {
        plain(res, 503, 'not ready: starting up\n');
        return count(handler, 503);
      }
      try {
        await check();
        plain(res, 200, 'OK');
        count(handler, 200);
      } catch (err) {
        plain(res, 503, `${err instanceof Error ? err.message : String(err)}\n`);
        count(handler, 503);
      }
    };
  router.all('/-/healthy', probe('healthy', options.checkHealthy));
  router.all('/-/ready', probe('ready', options.checkReady));

  const quit: express.RequestHandler = (_req, res) => {
    if (!options.lifecycle) return void plain(res, 403, 'Lifecycle API is not enabled.');
    plain(res, 200, 'Requesting termination... Goodbye!');
    res.on('finish', options.quit);
  };
  router.put('/-/quit', quit);
  router.post('/-/quit', quit);

  // The official 1.5.1 has no /-/reload; Prometheus' contract is used: PUT/POST, 403 without
  // --web.enable-lifecycle, 200 with an empty body once reloaded, 500 with the reason otherwise.
  const reload: express.RequestHandler = (_req, res, next) => {
    if (!options.lifecycle) return void plain(res, 403, 'Lifecycle API is not enabled.');
    options.reload().then(
      () => void res.status(200).end(),
      (err: unknown) => {
        try {
          sendPlainError(res, 500, `failed to reload config: ${err instanceof Error ? err.message : String(err)}`);
        } catch (e) {
          next(e);
        }
      },
    );
  };
  router.put('/-/reload', reload);
  router.post('/-/reload', reload);
  router.get('/-/reload', (_req, res) => void plain(res, 405, 'Only POST or PUT requests allowed.'));
  return router;
}
