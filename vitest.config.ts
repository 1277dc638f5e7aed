import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Lists, at the end of the run, the tests skipped for a tool outside npm (test/helpers/tools.ts).
    globalSetup: ['test/helpers/tool-summary.ts'],
    // Property-based and process-spawning tests take seconds on a busy 2-core machine; speed is
    // measured by npm run bench, never by a test's timeout.
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
