import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The programs and modules outside npm that some tests need. A tool counts as present only when it
 * actually runs (its version command exits 0, the Python import succeeds), never because a file
 * of that name exists. `PUSHKEEP_TEST_HIDE_TOOLS=promtool,chromium` (or `all`) makes the named
 * tools count as absent, to check that the suite passes on a machine without them.
 *
 * Every absence a test file asks about is written to PUSHKEEP_TEST_SKIP_DIR (set by
 * test/helpers/tool-summary.ts), which lists them in one line at the end of `npm test`.
 */

const PYTHON = '/usr/bin/python3';
const CLIENT_GOLANG = '/usr/share/gocode/src/github.com/prometheus/client_golang/prometheus/push/push.go';

const runs = (command: string, ...args: string[]): boolean => {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 20_000 });
  return result.error === undefined && result.status === 0;
};
const pythonImports = (...modules: string[]): boolean => runs(PYTHON, '-c', `import ${modules.join(', ')}`);

interface ToolSpec {
  /** The Debian package that installs it (scripts/setup-test-tools.sh installs them all). */
  readonly debian: string;
  readonly probe: () => boolean;
}

export const TOOLS = {
  promtool: { debian: 'prometheus', probe: () => runs('promtool', '--version') },
  prometheus: { debian: 'prometheus', probe: () => runs('prometheus', '--version') },
  'prometheus-pushgateway': { debian: 'prometheus-pushgateway', probe: () => runs('prometheus-pushgateway', '--version') },
  'python3-prometheus-client': { debian: 'python3-prometheus-client', probe: () => pythonImports('prometheus_client') },
  'python3-snappy': { debian: 'python3-snappy', probe: () => pythonImports('snappy') },
  go: { debian: 'golang-go', probe: () => runs('go', 'version') },
  'client-golang': { debian: 'golang-github-prometheus-client-golang-dev', probe: () => fs.existsSync(CLIENT_GOLANG) && runs('go', 'version') },
  chromium: { debian: 'chromium', probe: () => runs('/usr/bin/chromium', '--headless', '--no-sandbox', '--version') },
  'docker-compose': { debian: 'docker-compose', probe: () => runs('docker-compose', '--version') },
  gzip: { debian: 'gzip', probe: () => runs('gzip', '--version') },
  openssl: { debian: 'openssl', probe: () => runs('openssl', 'version') },
  curl: { debian: 'curl', probe: () => runs('curl', '--version') },
} as const satisfies Record<string, ToolSpec>;

export type Tool = keyof typeof TOOLS;

/** The Python the tests run: Debian's, which sees the Debian python3-* packages. */
export const TEST_PYTHON = PYTHON;

const hidden = new Set(
  (process.env['PUSHKEEP_TEST_HIDE_TOOLS'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);
const known = new Map<Tool, boolean>();

/** True when the tool runs here (and is not hidden). Probed once per test file. */
export function hasTool(tool: Tool): boolean {
  let present = known.get(tool);
  if (present === undefined) {
    present = !hidden.has(tool) && !hidden.has('all') && TOOLS[tool].probe();
    known.set(tool, present);
    if (!present) recordSkip(tool);
  }
  return present;
}

/**
 * Why tests needing these tools cannot run here, as one line; undefined when all of them run.
 * For `describe.skipIf(missingTools(...))` and `if (reason) ctx.skip(reason)`.
 */
export function missingTools(...tools: Tool[]): string | undefined {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((t) => TOOLS[t].debian))];
  return `needs ${missing.join(', ')} (Debian ${packages.join(' ')}; npm run setup:test-tools)`;
}

/** A describe title that says why the block is skipped, when it is. */
export function titleWithTools(title: string, ...tools: Tool[]): string {
  const reason = missingTools(...tools);
  return reason === undefined ? title : `${title} [SKIPPED: ${reason}]`;
}

function recordSkip(tool: Tool): void {
  const dir = process.env['PUSHKEEP_TEST_SKIP_DIR'];
  if (!dir) return;
  try {
    fs.writeFileSync(path.join(dir, tool), TOOLS[tool].debian);
  } catch {
    // The summary is a convenience; a test never fails over it.
  }
}
