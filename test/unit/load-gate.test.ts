import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { untilLoaded } from '../../src/load-gate.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server behind the gate whose answer says whether the store had loaded when it was made. */
async function gated(loaded: Promise<void>, state: { loaded: boolean }): Promise<string> {
  const server = http.createServer(
    untilLoaded((req, res) => res.end(`${req.url} ${state.loaded ? 'complete' : 'partial'}`), loaded, ['/-/ready', '/-/healthy']),
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('untilLoaded', () => {
  it('answers the health probes at once and holds every other request until the load is done', async () => {
    const load = deferred();
    const state = { loaded: false };
    const url = await gated(load.promise, state);
    expect(await (await fetch(`${url}/-/ready`)).text()).toBe('/-/ready partial');
    expect(await (await fetch(`${url}/-/healthy?x=1`)).text()).toBe('/-/healthy?x=1 partial');
    let answered = false;
    const scrape = fetch(`${url}/metrics`).then(async (res) => {
      answered = true;
      return res.text();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(answered).toBe(false);
    state.loaded = true;
    load.resolve();
    expect(await scrape).toBe('/metrics complete');
    expect(await (await fetch(`${url}/metrics/job/j`, { method: 'PUT', body: 'x 1\n' })).text()).toBe('/metrics/job/j complete');
  });

  it('answers what it held, and what comes after, with 503 when the load failed', async () => {
    const load = deferred();
    const url = await gated(load.promise, { loaded: false });
    const held = fetch(`${url}/metrics`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    load.reject(new Error('disk gone'));
    expect((await held).status).toBe(503);
    const later = await fetch(`${url}/api/v1/status`);
    expect(later.status).toBe(503);
    expect(await later.text()).toBe('not ready: loading the store failed\n');
  });
});
