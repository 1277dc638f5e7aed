import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeDialects, dropDatabases } from '../helpers/dialects.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join(import.meta.dirname, '..', '..', 'test-output');
const PREFIX = '/pk';
const XSS = '<script>alert(1)</script>';
const OPS = { username: 'ops', password: 's3cret' };
const basic = (user: string) => `Basic ${Buffer.from(`${user}:s3cret`).toString('base64')}`;

/** The history page, the group timelines and the status chart in headless Chromium, under a route prefix and basic auth. */
describeDialects('push history in the web UI', (dialect) => {
  vi.setConfig({ testTimeout: 30_000 });
  let gw: TestServer;
  let browser: Browser;
  let base: string;
  const push = (method: 'PUT' | 'POST' | 'DELETE', p: string, body?: string) => gw.push(method, p, body, { Authorization: basic('ops') });
  const open = async (url: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, httpCredentials: OPS });
    page.on('dialog', (dialog) => {
      throw new Error(`unexpected dialog: ${dialog.message()}`);
    });
    await page.goto(url);
    return page;
  };

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-history-ui-'));
    const hash = bcrypt.hashSync('s3cret', 4);
    const webConfig = path.join(dir, 'web.yml');
    fs.writeFileSync(
      webConfig,
      `basic_auth_users:\n  ops: ${hash}\n  ci: ${hash}\npushkeep_authorization:\n  users:\n    ops: [push, read, scrape]\n    ci: [push]\n  anonymous: [health]\n`,
    );
    const database = await dialect.freshDatabase();
    [gw, browser] = await Promise.all([
      startTestServer({ database, routePrefix: PREFIX, webConfigFile: webConfig }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] }),
    ]);
    base = `${gw.url}${PREFIX}`;
    fs.mkdirSync(OUTPUT, { recursive: true });
    expect((await push('PUT', '/metrics/job/backup/instance/db1', 'backup_last_success_seconds 1.7e9\n')).status).toBe(200);
    expect((await push('PUT', '/metrics/job/backup/instance/db2', 'backup_last_success_seconds 1.7e9\n')).status).toBe(200);
    expect((await push('POST', '/metrics/job/cleaner/path/tmp', 'files_removed 42\n')).status).toBe(200);
    expect((await push('PUT', '/metrics/job/backup/instance/db1', 'backup_last_success_seconds 1.7e9 1000\n')).status).toBe(400);
    expect((await push('PUT', `/metrics/job/xss/v@base64/${Buffer.from(XSS).toString('base64url')}`, 'm{w="x"} 1\n')).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([browser?.close(), gw?.close()]);
    await dropDatabases();
  });

  it.skipIf(!fs.existsSync(CHROMIUM))('shows a rejected push with its full reason on /history, marked, with absolute and relative times', async () => {
    const page = await open(`${base}/history`);
    const rejected = page.locator('tr.attempt.rejected');
    await expect(rejected.count()).resolves.toBe(1);
    await expect(rejected.innerText()).resolves.toMatch(/rejected 400[\s\S]*PUT \/pk\/metrics\/job\/backup\/instance\/db1/);
    const reason = page.locator('tr.reason-row td.reason');
    await expect(reason.innerText()).resolves.toMatch(/timestamp/);
    await expect(page.locator('tr.attempt').count()).resolves.toBe(5);
    await expect(page.locator('tr.attempt').first().locator('.ago').innerText()).resolves.toMatch(/^\d+s ago$/);
    // The script rewrote the UTC text into the browser's zone and kept it as the title.
    await expect(page.locator('tr.attempt time').first().getAttribute('title')).resolves.toMatch(/UTC$/);
    await expect(page.locator('.label', { hasText: 'alert' }).innerText()).resolves.toContain(XSS);
    expect(await page.locator('main script').count()).toBe(0);
    await page.screenshot({ path: path.join(OUTPUT, `history-page-${dialect.name}.png`), fullPage: true });
    await page.close();
  });

  it.skipIf(!fs.existsSync(CHROMIUM))('filters by job, label text and outcome, and pages with Older and Newest', async () => {
    const page = await open(`${base}/history`);
    const rows = () => page.locator('tr.attempt .request').allInnerTexts();
    await page.getByLabel('Job').fill('cleaner');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/job=cleaner/);
    expect(await rows()).toEqual(['POST /pk/metrics/job/cleaner/path/tmp']);

    await page.getByLabel('Job').fill('');
    await page.getByLabel('Label value contains').fill('DB1');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/q=DB1/);
    expect(await rows()).toEqual(['PUT /pk/metrics/job/backup/instance/db1', 'PUT /pk/metrics/job/backup/instance/db1']);

    await page.getByLabel('Outcome').selectOption('rejected');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/outcome=rejected/);
    expect(await rows()).toEqual(['PUT /pk/metrics/job/backup/instance/db1']);
    await expect(page.locator('tr.attempt.rejected').count()).resolves.toBe(1);
    await page.screenshot({ path: path.join(OUTPUT, `history-filtered-${dialect.name}.png`), fullPage: true });

    await page.goto(`${base}/history?limit=2`);
    const first = await rows();
    expect(first).toHaveLength(2);
    await page.getByRole('link', { name: 'Older ›' }).click();
    const second = await rows();
    expect(second).toHaveLength(2);
    expect(second).not.toContain(first[0]);
    await page.getByRole('link', { name: 'Older ›' }).click();
    expect(await rows()).toHaveLength(1);
    await expect(page.getByText('No older attempts').count()).resolves.toBe(1);
    await page.getByRole('link', { name: '« Newest' }).click();
    expect(await rows()).toEqual(first);
    await page.close();
  });

  it.skipIf(!fs.existsSync(CHROMIUM))('draws a red mark on the timeline of a group after a failed push, and links the card to its history', async () => {
    const page = await open(`${base}/`);
    const db1 = page.locator('section.group', { hasText: 'db1' });
    const db2 = page.locator('section.group', { hasText: 'db2' });
    const marks = async (group: typeof db1, kind: string) =>
      (
        (await group
          .locator(`.timeline svg path.mark.${kind}`)
          .getAttribute('d', { timeout: 1000 })
          .catch(() => '')) ?? ''
      ).split('M').length - 1;
    expect(await marks(db1, 'bad')).toBe(1);
    await expect(db1.locator('.timeline svg').getAttribute('aria-label')).resolves.toMatch(
      /^2 pushes in the last 24 hours, 1 failed; longest gap .*; last failure \d\d:\d\d–\d\d:\d\d UTC$/,
    );
    expect(await marks(db2, 'bad')).toBe(0);
    expect(await marks(db2, 'ok')).toBe(1);
    await expect(db2.locator('.timeline-summary').innerText()).resolves.toMatch(/^1 push in the last 24 hours, 0 failed/);
    const mark = db1.locator('.timeline svg path.mark.bad');
    const box = (await mark.boundingBox())!;
    const svg = (await db1.locator('.timeline svg').boundingBox())!;
    // The newest slot is at the right end of the track.
    expect(box.x + box.width).toBeGreaterThan(svg.x + svg.width * 0.98);
    await page.screenshot({ path: path.join(OUTPUT, `groups-timeline-${dialect.name}.png`), fullPage: true });

    await db1.getByRole('link', { name: 'History' }).click();
    await page.waitForURL(/\/pk\/history\?grouping_key=/);
    expect(await page.locator('tr.attempt .request').allInnerTexts()).toEqual([
      'PUT /pk/metrics/job/backup/instance/db1',
      'PUT /pk/metrics/job/backup/instance/db1',
    ]);
    await expect(page.locator('p.sub code').innerText()).resolves.toBe('{instance="db1",job="backup"}');
    await page.close();
  });

  it.skipIf(!fs.existsSync(CHROMIUM))('charts accepted and rejected pushes per minute on the status page', async () => {
    const page = await open(`${base}/status`);
    const chart = page.locator('figure.rate-chart svg');
    await expect(chart.getAttribute('aria-label')).resolves.toMatch(/^Last 60 minutes: 4 accepted and 1 rejected pushes/);
    await expect(chart.locator('rect.bar.bad').count()).resolves.toBeGreaterThan(0);
    await page.screenshot({ path: path.join(OUTPUT, `status-chart-${dialect.name}.png`), fullPage: true });
    await page.close();
  });

  it.skipIf(!fs.existsSync(CHROMIUM))('needs the read role for the page and the API', async () => {
    for (const p of ['/history', '/api/v1/history']) {
      expect((await fetch(`${base}${p}`)).status, p).toBe(401);
      expect((await fetch(`${base}${p}`, { headers: { Authorization: basic('ci') } })).status, p).toBe(403);
      expect((await fetch(`${base}${p}`, { headers: { Authorization: basic('ops') } })).status, p).toBe(200);
    }
    const bad = await fetch(`${base}/history?outcome=maybe`, { headers: { Authorization: basic('ops') } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/invalid outcome "maybe"/);
  });
});
