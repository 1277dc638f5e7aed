// Bundles the gateway into one file, dist/src/pushkeep.cjs, and its process entry (src/launch.ts)
// into dist/src/main.js, over tsc's compiled files (tsc still type-checks and compiles everything
// else: the migrations the bundle imports from dist/migrations, and the modules tests import).
// Loading ~400 module files (kysely alone has 280) took a third of a start; one file loads in a
// tenth of that, and with V8's code cache, written last, without compiling it first.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  allowOverwrite: true,
  logLevel: 'warning',
  minifyWhitespace: true,
  minifySyntax: true,
};

// CommonJS, because V8's code cache is available to node 20 only for scripts (src/launch.ts).
await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile: 'dist/src/pushkeep.cjs',
  format: 'cjs',
  // better-sqlite3 loads a native addon; pg is required only for a PostgreSQL URL.
  external: ['better-sqlite3', 'pg'],
  define: { 'import.meta.url': '__bundleUrl', 'import.meta.dirname': '__dirname' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
await build({ ...common, entryPoints: ['src/launch.ts'], outfile: 'dist/src/main.js', format: 'esm' });

// esbuild leaves non-ASCII characters in regular expressions and some comments. One of them makes
// the whole bundle a two-byte string in V8, which keeps the source for lazy compilation: escaped,
// it is half the size for the process's life (\uXXXX means the same in literals and regexps).
const bundled = readFileSync('dist/src/pushkeep.cjs', 'utf8');
const ascii = bundled.replace(/[^\t\n\r\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
if (ascii !== bundled) writeFileSync('dist/src/pushkeep.cjs', ascii);

// A cache left from an earlier bundle must never meet this one.
rmSync('dist/src/pushkeep.cjs.codecache', { force: true });
const cached = spawnSync(process.execPath, ['dist/src/main.js', '--version'], {
  env: { ...process.env, PUSHKEEP_WRITE_CODE_CACHE: '1' },
  encoding: 'utf8',
});
if (cached.status !== 0) {
  process.stderr.write(`bundle: the built gateway did not run: ${cached.stderr || cached.error}\n`);
  process.exit(1);
}
