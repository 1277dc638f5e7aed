import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The layer check lives in eslint.config.js and runs with `npm run lint`; these cases show that it
// refuses an import pointing the wrong way and lets the right way through.
const eslint = new ESLint({ cwd: path.resolve(import.meta.dirname, '../..') });

async function layerErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: file });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layer check', () => {
  it('refuses an http module importing the store', async () => {
    const errors = await layerErrors(
      'src/http/example.ts',
      "import { KyselyMetricStore } from '../store/kysely-metric-store.js';\nexport const s = KyselyMetricStore;\n",
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('src/http/ may import only');
  });

  it('refuses domain code importing a layer above it, also from a nested folder', async () => {
    expect(
      await layerErrors('src/domain/example.ts', "import { PushService } from '../service/push-service.js';\nexport const s = PushService;\n"),
    ).toHaveLength(1);
    expect(
      await layerErrors('src/store/dialect/example.ts', "import { ScrapeCache } from '../../render/scrape-cache.js';\nexport const c = ScrapeCache;\n"),
    ).toHaveLength(1);
  });

  it('refuses a layer importing the composition root', async () => {
    const errors = await layerErrors('src/service/example.ts', "import { startServer } from '../server.js';\nexport const s = startServer;\n");
    expect(errors[0]).toContain('composition root');
  });

  it('lets imports that point down through', async () => {
    expect(await layerErrors('src/http/example.ts', "import { PushService } from '../service/push-service.js';\nexport const s = PushService;\n")).toEqual([]);
    expect(await layerErrors('src/store/example.ts', "import { isExpired } from '../domain/expiry.js';\nexport const e = isExpired;\n")).toEqual([]);
  });
});
