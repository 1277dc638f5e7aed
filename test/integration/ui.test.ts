import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join(import.meta.dirname, '..', '..', 'test-output');
const XSS = '<script>alert(1)</script>';

describe.skipIf(missingTools('chromium'))(titleWithTools('web UI in headless Chromium', 'chromium'), { timeout: 30_000 }, () => {
  let gw: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    [gw, browser] = await Promise.all([
      startTestServer({ adminApi: true, flags: { 'web.enable-admin-api': 'true', 'storage.path': 'data/pushkeep.db' } }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      }),
    ]);
    fs.mkdirSync(OUTPUT, { recursive: true });
  }, 30_000);
  afterAll(async () => {
    await Promise.all([browser?.close(), gw?.close()]);
  });

  it('shows a pushed group and its values, and deletes it through the button', async () => {
    await gw.push(
      'PUT',
      '/metrics/job/backup/instance/db-1',
      '# TYPE backup_last_success_seconds gauge\n# HELP backup_last_success_seconds When the last backup succeeded.\nbackup_last_success_seconds 1.7e9\n# TYPE backup_bytes counter\nbackup_bytes{volume="data"} 123456789\n# TYPE backup_duration_seconds histogram\nbackup_duration_seconds_bucket{le="60"} 3\nbackup_duration_seconds_bucket{le="+Inf"} 4\nbackup_duration_seconds_sum 300\nbackup_duration_seconds_count 4\n',
    );
    await gw.push('PUT', '/metrics/job/cleaner/path/tmp', 'files_removed 42\n');
    await gw.push('PUT', '/metrics/job/cleaner/path/var', 'files_removed 1 1000\n'); // fails: timestamp

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.accept();
    });
    await page.goto(`${gw.url}/`);
    const group = page.locator('section.group', { hasText: 'db-1' });
    await expect(group.locator('.label').first().innerText()).resolves.toMatch(/job\s*backup/);
    await group.locator('summary').click();
    await expect(group.locator('.family', { hasText: 'backup_bytes' }).innerText()).resolves.toContain('1.23456789e+08');
    await expect(group.innerText()).resolves.toContain('When the last backup succeeded.');
    await expect(page.locator('section.group', { hasText: 'var' }).innerText()).resolves.toContain('Last push failed!');
    await page.screenshot({ path: path.join(OUTPUT, 'ui-groups.png'), fullPage: true });

    await group.getByRole('button', { name: 'Delete group' }).click();
    await group.waitFor({ state: 'detached' });
    expect(dialogs).toEqual(['confirm: Delete group {instance="db-1",job="backup"}?']);
    expect(await gw.scrapePushed()).not.toContain('job="backup"');
    await page.close();
  });

  it('shows a <script> label value as text and never runs it', async () => {
    const value = Buffer.from(XSS).toString('base64url');
    expect((await gw.push('PUT', `/metrics/job/xss/v@base64/${value}`, `# HELP m ${XSS}\nm{w="${XSS}"} 1\n`)).status).toBe(200);
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`${gw.url}/?job=xss`);
    const group = page.locator('section.group', { hasText: 'xss' });
    await group.locator('summary').click();
    await expect(group.locator('.label', { hasText: 'alert' }).innerText()).resolves.toContain(XSS);
    await expect(group.locator('.help').innerText()).resolves.toBe(XSS);
    expect(await page.locator('main script').count()).toBe(0);
    await page.waitForTimeout(200);
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it('wipes every group with the admin button and shows a status tab', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${gw.url}/status`);
    await expect(page.locator('table.kv').last().innerText()).resolves.toContain('web.enable-admin-api');
    await page.screenshot({ path: path.join(OUTPUT, 'ui-status.png'), fullPage: true });
    await page.getByRole('link', { name: 'Metrics' }).click();
    await page.getByRole('button', { name: /Delete all \d+ groups/ }).click();
    await page.locator('.empty').waitFor();
    expect(await gw.scrapePushed()).toBe('');
    await page.close();
  });

  it('pages through 250 groups and filters by job', async () => {
    for (let i = 0; i < 250; i++) await gw.push('PUT', `/metrics/job/j${i % 5}/instance/i${String(i).padStart(3, '0')}`, 'm 1\n');
    const page = await browser.newPage();
    await page.goto(`${gw.url}/`);
    expect(await page.locator('section.group').count()).toBe(100);
    await expect(page.locator('.pager').innerText()).resolves.toContain('Page 1 of 3');
    // Counted once the last page has loaded whole: a click returns before the navigation ends.
    await Promise.all([page.waitForURL(/page=3/, { waitUntil: 'load' }), page.getByRole('link', { name: 'Last »' }).click()]);
    expect(await page.locator('section.group').count()).toBe(50);
    await page.goto(`${gw.url}/?job=j3`);
    expect(await page.locator('section.group').count()).toBe(50);
    await expect(page.locator('.sub').innerText()).resolves.toBe('50 of 250 groups match');
    await page.close();
  });
});
