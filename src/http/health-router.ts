import express from 'express';
import type { Telemetry } from '../telemetry.js';

export interface HealthRouterOptions {
  readonly telemetry: Telemetry;
  /** Resolves when the database answers and can be written; rejects with the reason otherwise. */
  readonly checkHealthy: () => Promise<void>;
  /** True once migrations ran and the scrape cache is loaded. */
  readonly isReady: () => boolean;
  readonly lifecycle: boolean;
  readonly quit: () => void;
}

/** /-/healthy, /-/ready and /-/quit, answered as the official gateway answers them. */
export function healthRouter(options: HealthRouterOptions): express.Router {
  const router = express.Router();
  const plain = (res: express.Response, status: number, body: string) =>
    res.status(status).set('Content-Type', 'text/plain; charset=utf-8').send(body);

  router.get('/-/healthy', async (_req, res) => {
    try {
      await options.checkHealthy();
      plain(res, 200, 'OK');
      options.telemetry.requests.inc({ code: '200', handler: 'healthy', method: 'get' });
    } catch (err) {
      plain(res, 503, `${err instanceof Error ? err.message : String(err)}\n`);
      options.telemetry.requests.inc({ code: '503', handler: 'healthy', method: 'get' });
    }
  });
  router.get('/-/ready', async (_req, res) => {
    if (!options.isReady()) return void plain(res, 503, 'not ready: starting up\n');
    try {
      await options.checkHealthy();
      plain(res, 200, 'OK');
      options.telemetry.requests.inc({ code: '200', handler: 'ready', method: 'get' });
    } catch (err) {
      plain(res, 503, `${err instanceof Error ? err.message : String(err)}\n`);
      options.telemetry.requests.inc({ code: '503', handler: 'ready', method: 'get' });
    }
  });
  const quit: express.RequestHandler = (_req, res) => {
    if (!options.lifecycle) return void plain(res, 403, 'Lifecycle API is not enabled.');
    plain(res, 200, 'Requesting termination... Goodbye!');
    res.on('finish', options.quit);
  };
  router.put('/-/quit', quit);
  router.post('/-/quit', quit);
  return router;
}
