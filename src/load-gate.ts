import type http from 'node:http';

/**
 * Holds every request but the health probes until `loaded` settles, so that the gateway can
 * listen, and say it is ready, while it still fills its scrape cache from the store: a scrape or
 * push arriving meanwhile is answered once the load is done, from the complete cache, never from
 * part of it. A failed load answers what it held with 503 (the process then exits).
 */
export function untilLoaded(listener: http.RequestListener, loaded: Promise<void>, probePaths: readonly string[]): http.RequestListener {
  let state: 'loading' | 'loaded' | 'failed' = 'loading';
  loaded.then(
    () => (state = 'loaded'),
    () => (state = 'failed'),
  );
  return (req, res) => {
    if (state === 'loaded' || probePaths.includes(pathOf(req.url))) {
      listener(req, res);
      return;
    }
    const refuse = () => {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end('not ready: loading the store failed\n');
    };
    if (state === 'failed') refuse();
    else loaded.then(() => listener(req, res), refuse);
  };
}

function pathOf(url: string | undefined): string {
  const u = url ?? '';
  const end = u.indexOf('?');
  return end < 0 ? u : u.slice(0, end);
}
