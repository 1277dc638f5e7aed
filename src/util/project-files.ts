import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The nearest `relative` path at or above this module's folder. Files shipped beside the code
 * (package.json, proto/metrics.proto) are found this way from each layout the code runs in:
 * src/ under tsx, dist/src/ compiled by tsc, and the single bundled dist/src/pushkeep.cjs,
 * whose own modules all share the folder of the bundle.
 */
export function findAbove(relative: string): string {
  let dir = import.meta.dirname;
  for (;;) {
    const candidate = path.join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`${relative} not found above ${import.meta.dirname}`);
    dir = parent;
  }
}
