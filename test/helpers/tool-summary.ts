import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Vitest global setup: gives the test files a directory where tools.ts notes every tool it found
 * missing, and at the end of the run prints them in one line with the command that installs them.
 */
export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-test-skips-'));
  process.env['PUSHKEEP_TEST_SKIP_DIR'] = dir;
  return () => {
    const tools = fs.readdirSync(dir).sort();
    const packages = [...new Set(tools.map((t) => fs.readFileSync(path.join(dir, t), 'utf8')))].sort();
    fs.rmSync(dir, { recursive: true, force: true });
    const line =
      tools.length === 0
        ? 'Test tools: every tool outside npm ran; nothing was skipped for a missing tool.'
        : `Test tools: skipped tests needing ${tools.join(', ')}; install them with \`npm run setup:test-tools\` (Debian: ${packages.join(' ')}).`;
    process.stdout.write(`\n${line}\n`);
  };
}
