import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/process-server.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const PREFIX = '/pushkeep';
const MAIN = path.join(import.meta.dirname, '..', '..', 'dist', 'src', 'main.js');

async function send(url: string, method: string, body?: string) {
  const res = await fetch(url, { method, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
  return { status: res.status, location: res.headers.get('location'), body: await res.text() };
}

describe('--web.route-prefix=/pushkeep moves every route', () => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await startTestServer({ routePrefix: PREFIX, adminApi: true, lifecycle: true });
  });
  afterAll(async () => {
    await gw?.close();
  });

  // In order: each step may depend on the ones before it.
  const ROUTES: [method: string, path: string, status: number, body?: string][] = [
    ['PUT', '/metrics/job/a/instance/x', 200, 'm 1\n'],
    ['POST', '/metrics/job/a/instance/x', 200, 'n 2\n'],
    ['PUT', '/metrics/job@base64/Yg/instance/y', 200, 'm 3\n'],
    ['GET', '/metrics', 200],
    ['GET', '/api/v1/metrics', 200],
    ['GET', '/api/v1/status', 200],
    ['OPTIONS', '/api/v1/status', 200],
    ['GET', '/-/healthy', 200],
    ['GET', '/-/ready', 200],
    ['PUT', '/-/reload', 200],
    ['GET', '/', 200],
    ['GET', '/status', 200],
    ['DELETE', '/metrics/job/a/instance/x', 202],
    ['DELETE', `/api/v1/admin/groups?match[]=${encodeURIComponent('{job="b"}')}`, 200],
    ['PUT', '/api/v1/admin/wipe', 202],
  ];

  it.each(ROUTES)('%s <prefix>%s answers %i, and 404 without the prefix', async (method, path, status, body) => {
    expect((await send(`${gw.url}${path}`, method, body)).status).toBe(404);
    expect((await send(`${gw.url}${PREFIX}${path}`, method, body)).status).toBe(status);
  });

  it('keeps the scrape and the API consistent under the prefix', async () => {
    await send(`${gw.url}${PREFIX}/metrics/job/c`, 'PUT', 'z 7\n');
    expect((await send(`${gw.url}${PREFIX}/metrics`, 'GET')).body).toContain('z{instance="",job="c"} 7');
    expect((await send(`${gw.url}${PREFIX}/api/v1/metrics`, 'GET')).body).toContain('"labels":{"job":"c"}');
  });

  it('redirects the bare prefix to the UI page, whose relative links stay under the prefix', async () => {
    const bare = await send(`${gw.url}${PREFIX}`, 'GET');
    expect([bare.status, bare.location]).toEqual([301, `${PREFIX}/`]);
    await send(`${gw.url}${PREFIX}/metrics/job/d/instance/i`, 'PUT', 'z 8\n');
    const page = (await send(`${gw.url}${PREFIX}/`, 'GET')).body;
    const links = [...page.matchAll(/(?:href|data-url)="([^"]+)"/g)].map((m) => m[1]!);
    expect(links).toContain('./status');
    const base = `${gw.url}${PREFIX}/`;
    for (const link of links) expect(new URL(link.replaceAll('&amp;', '&'), base).pathname.startsWith(`${PREFIX}/`)).toBe(true);
    // The group's delete button works once resolved against the page.
    const del = links.find((l) => l.includes('/metrics/job@base64/') && l.includes('instance@base64'))!;
    expect((await send(new URL(del, base).href, 'DELETE')).status).toBe(202);
    expect((await send(`${gw.url}${PREFIX}/metrics`, 'GET')).body).not.toContain('job="d"');
  });

  it('still answers GET /-/quit at the root, as the official', async () => {
    expect(await send(`${gw.url}/-/quit`, 'GET')).toMatchObject({ status: 405, body: 'Only POST or PUT requests allowed.' });
  });
});

describe('--web.external-url sets the prefix of a real process', () => {
  let child: ChildProcess | undefined;
  let url = '';
  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [MAIN, `--web.listen-address=127.0.0.1:${port}`, '--storage.path=:memory:', '--web.external-url=http://example.com/ext/'], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ready = await fetch(`${url}/ext/-/ready`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready === 200) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('pushkeep did not become ready under /ext');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  afterAll(() => {
    child?.kill('SIGTERM');
  });

  it('serves under /ext and reports the computed prefix in /api/v1/status', async () => {
    const status = JSON.parse((await send(`${url}/ext/api/v1/status`, 'GET')).body) as { data: { flags: Record<string, string> } };
    expect(status.data.flags['web.route-prefix']).toBe('/ext');
    expect(status.data.flags['web.external-url']).toBe('http://example.com/ext/');
    expect((await send(`${url}/ext/`, 'GET')).body).toContain('href="./status"');
    expect((await send(`${url}/api/v1/status`, 'GET')).status).toBe(404);
  });
});
