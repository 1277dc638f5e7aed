// A short-lived job instrumented with the real OpenTelemetry JS SDK: records what argv[2] (JSON)
// says, exports once to Pushkeep over OTLP/HTTP (JSON or protobuf), shuts down and exits. Prints
// the export results as one JSON line; exits 1 when an export failed.
import { AggregationTemporality, AggregationType, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';

const config = JSON.parse(process.argv[2]);
const Exporter = config.protocol === 'proto' ? ProtoExporter : JsonExporter;
const exporter = new Exporter({
  url: config.url,
  headers: config.headers ?? {},
  temporalityPreference: config.temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
});
const results = [];
const exportOnce = exporter.export.bind(exporter);
exporter.export = (metrics, done) =>
  exportOnce(metrics, (result) => {
    results.push({ code: result.code, error: result.error ? String(result.error.message ?? result.error) : undefined });
    done(result);
  });

const provider = new MeterProvider({
  resource: resourceFromAttributes(config.resource),
  readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })],
  views: [{ instrumentName: 'payload.size', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM, options: { maxSize: 160 } } }],
});
const meter = provider.getMeter('pushkeep-test', '1.0.0');
const r = config.record;

if (r.records !== undefined) {
  meter.createCounter('etl.records', { unit: '{record}', description: 'Records loaded.' }).add(r.records, { 'stage.name': 'load' });
}
if (r.queue !== undefined) {
  meter.createUpDownCounter('queue.depth', { description: 'Items waiting.' }).add(r.queue, { queue: 'main' });
}
if (r.durations !== undefined) {
  const h = meter.createHistogram('etl.duration', { unit: 's', description: 'Step duration.', advice: { explicitBucketBoundaries: [0.1, 1, 10] } });
  for (const v of r.durations) h.record(v, { step: 'extract' });
}
if (r.sizes !== undefined) {
  const h = meter.createHistogram('payload.size', { unit: 'By', description: 'Payload sizes.' });
  for (const v of r.sizes) h.record(v);
}
if (r.progress !== undefined) {
  meter
    .createObservableGauge('etl.progress', { unit: '1', description: 'Done so far.' })
    .addCallback((result) => result.observe(r.progress, { 'stage.name': 'load' }));
}

await provider.shutdown();
process.stdout.write(`${JSON.stringify(results)}\n`);
process.exit(results.every((x) => x.code === 0) ? 0 : 1);
