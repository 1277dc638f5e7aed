import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Lists, at the end of the run, the tests skipped for a tool outside npm (test/helpers/tools.ts).
    globalSetup: ['test/helpers/tool-summary.ts'],
  },
});
