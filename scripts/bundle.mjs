// Bundles the gateway into one file, dist/src/main.js, over tsc's compiled entry point (tsc still
// type-checks and compiles everything else: the migrations the bundle imports from dist/migrations,
// and the modules tests import). Loading ~400 module files (kysely alone has 280) took a third of
// a start; one file loads in a tenth of that. Native and lazily loaded packages stay outside.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/src/main.js',
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  // better-sqlite3 loads a native addon; pg is required only for a PostgreSQL URL.
  external: ['better-sqlite3', 'pg'],
  // The CommonJS packages inside (express, pino, prom-client) call require() for node's modules.
  banner: { js: "import { createRequire as bundleRequire } from 'node:module';\nconst require = bundleRequire(import.meta.url);" },
  logLevel: 'warning',
});
