#!/usr/bin/env node
/**
 * The built gateway's process entry (dist/src/main.js): runs the bundle, dist/src/pushkeep.cjs,
 * through V8's code cache. Node 20 caches no compiled code between runs, and compiling the bundle
 * is a sizeable part of a start (docs/performance.md). `npm run build` writes the cache
 * (scripts/bundle.mjs); without one, or with one V8 refuses (another node, other V8 flags), the
 * bundle compiles as it always did. `npm run dev` runs src/main.ts instead and skips all this.
 * The bundle must not import() at run time: node 20 loses a cached script's import() callback
 * (the migrations are bundled for this, src/store/migration-list.ts).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const bundle = path.join(import.meta.dirname, 'pushkeep.cjs');
const cacheFile = `${bundle}.codecache`;
// V8 checks a cache against the source's length only: the cache is trusted only for the bundle
// whose size and modification time it was written for.
const stat = fs.statSync(bundle);
const stamp = Buffer.from(`${stat.size}:${stat.mtimeMs}\n`);

const source = fs.readFileSync(bundle, 'utf8');
const cachedData = readCache();
// CommonJS' own wrapper; the bundle's first line is src/main.ts' #! line.
const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source.replace(/^#!.*/, '')}\n})`, {
  filename: bundle,
  ...(cachedData ? { cachedData } : {}),
});
const run = script.runInThisContext() as (...args: unknown[]) => void;
const module = { exports: {} };
run(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));

// `npm run build` runs `--version` with this set: its cache then holds every module's top-level
// code, compiled; written after the run, before the process changes any V8 flag (a cache made
// under other flags is refused).
if (process.env.PUSHKEEP_WRITE_CODE_CACHE === '1') {
  fs.writeFileSync(cacheFile, Buffer.concat([stamp, script.createCachedData()]));
}

function readCache(): Buffer | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  return data.subarray(0, stamp.length).equals(stamp) ? data.subarray(stamp.length) : undefined;
}
