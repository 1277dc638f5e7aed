import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migration-list.js';

describe('the migration list', () => {
  it('holds every migration file in migrations/, under its file name, each with an up()', () => {
    const folder = path.join(import.meta.dirname, '..', '..', 'migrations');
    const files = readdirSync(folder)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(Object.keys(MIGRATIONS).sort()).toEqual(files);
    for (const name of files) expect(typeof MIGRATIONS[name]!.up, name).toBe('function');
  });
});
