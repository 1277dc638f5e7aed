import { sql, type Transaction } from 'kysely';
import type { CompiledStatements } from './compiled-statements.js';
import { addFamily } from '../domain/family-sum.js';
import type { MetricFamily, MetricType } from '../exposition/types.js';
import type { FamilyHead } from './dialect/store-dialect.js';
import { decodeMetrics } from './metrics-json.js';
import type { Database } from './schema.js';

/**
 * The pushed families with those named in `adding` replaced by their sum with the stored family
 * of the same name, read in the caller's transaction (which holds the group's lock, so no other
 * writer adds in between). Gauges named in `deltas` add too (OTLP's non-monotonic delta sums);
 * elsewhere a gauge takes the pushed value. Throws AggregationError when one cannot be added: the
 * caller's transaction then writes nothing of the push.
 */
export async function sumWithStored(
  statements: CompiledStatements,
  trx: Transaction<Database>,
  pushed: readonly MetricFamily[],
  adding: ReadonlySet<string>,
  existingRows: readonly FamilyHead[],
  deltas: ReadonlySet<string> = new Set(),
): Promise<MetricFamily[]> {
  const rows = existingRows.filter((r) => adding.has(r.name));
  const stored = new Map<string, { type: MetricType; metrics: ReturnType<typeof decodeMetrics> }>();
  if (rows.length > 0) {
    const ids = rows.map((r) => r.id);
    // A compiled statement: sum groups' pushes run it every time.
    const found = await statements.rows(
      trx,
      `stored metrics:${ids.length}`,
      ids,
      () => sql<{ name: string; type: string; metrics_json: string }>`SELECT name, type, metrics_json FROM metric_family WHERE id IN (${sql.join(ids)})`,
    );
    for (const r of found) stored.set(r.name, { type: r.type as MetricType, metrics: decodeMetrics(r.metrics_json) });
  }
  return pushed.map((f) => (adding.has(f.name) ? addFamily(stored.get(f.name), f, deltas.has(f.name)) : f));
}
