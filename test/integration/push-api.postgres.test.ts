import { afterAll, describe } from 'vitest';
import { dropDatabases, POSTGRES, setActiveDialect } from '../helpers/dialects.js';

// The whole push-api suite again, on PostgreSQL: every test gets a database of its own.
const title = POSTGRES.skipReason ? `push-api on PostgreSQL [SKIPPED: ${POSTGRES.skipReason}]` : 'push-api on PostgreSQL';
describe.skipIf(POSTGRES.skipReason !== undefined)(title, async () => {
  setActiveDialect(POSTGRES);
  await import('./push-api.test.js');
  afterAll(dropDatabases, 60_000);
});
