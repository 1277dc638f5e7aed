// The otlp_small scenario's bodies: the same 100 gauge series as a text push and as an OTLP/HTTP protobuf
// export (what @opentelemetry/exporter-metrics-otlp-proto sends), each into a group of its own.
import { encodeExportRequest } from '../src/exposition/otlp/wire.js';
import { FAMILY, JOB, SERIES_PER_LARGE_PUSH } from './workload.js';

export const OTLP_CONTENT_TYPES = { protobuf: 'application/x-protobuf', json: 'application/json' } as const;
export const OTLP_PATH = '/v1/metrics';
/** The text push's group: job `bench`, instance `text`. */
export const TEXT_GROUP_PATH = `/metrics/job/${JOB}/instance/text`;

/** One resource (job `bench`, instance `otlp`) with one gauge of SERIES_PER_LARGE_PUSH points, as protobuf or OTLP/JSON. */
export function otlpBody(encoding: 'protobuf' | 'json'): Buffer {
  const attribute = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const dataPoints = Array.from({ length: SERIES_PER_LARGE_PUSH }, (_, i) => ({
    attributes: [attribute('series', String(i))],
    timeUnixNano: String(Date.now() * 1e6),
    asDouble: (i + 1) * 0.25,
  }));
  const request = {
    resourceMetrics: [
      {
        resource: { attributes: [attribute('service.name', JOB), attribute('service.instance.id', 'otlp')] },
        scopeMetrics: [
          { scope: { name: 'bench' }, metrics: [{ name: FAMILY, description: 'A gauge pushed by the Pushkeep benchmark.', gauge: { dataPoints } }] },
        ],
      },
    ],
  };
  return encoding === 'json' ? Buffer.from(JSON.stringify(request)) : encodeExportRequest(request);
}
