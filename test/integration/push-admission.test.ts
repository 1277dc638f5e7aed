import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// SQLite writes one transaction at a time: the gateway parses and writes only a few pushes at once
// (StoreDialect.pushBytesAtOnce) and the others wait their turn.
describe("pushes beyond the store's turns", () => {
  let gw: TestServer;
  const sockets: net.Socket[] = [];
  beforeAll(async () => {
    gw = await startTestServer();
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await gw?.close();
  });

  it('wait and all land, each with its own series', async () => {
    const groups = 60;
    const answers = await Promise.all(
      Array.from({ length: groups }, (_, g) =>
        gw.push('PUT', `/metrics/job/burst/g/${g}`, Array.from({ length: 50 }, (_, i) => `burst_value{series="${i}"} ${g * 1000 + i}\n`).join('')),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    const scrape = await gw.scrapePushed();
    for (let g = 0; g < groups; g++) {
      expect(scrape).toContain(`burst_value{g="${g}",instance="",job="burst",series="0"} ${g * 1000}\n`);
      expect(scrape).toContain(`burst_value{g="${g}",instance="",job="burst",series="49"} ${g * 1000 + 49}\n`);
    }
  });

  it('are not held up by clients still sending their bodies', async () => {
    const { port } = new URL(gw.url);
    // More clients than turns, each sending its headers and half its body, then nothing.
    for (let i = 0; i < 20; i++) {
      const socket = net.connect(Number(port), '127.0.0.1');
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(`PUT /metrics/job/slow/i/${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nslow_value 1\n`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await gw.push('PUT', '/metrics/job/quick', 'quick_value 7\n');
    expect(res.status).toBe(200);
    expect(await gw.scrapePushed()).toContain('quick_value{instance="",job="quick"} 7\n');
  });
});
