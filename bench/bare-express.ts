// The ceiling for an Express gateway: an Express 5 route that reads each push body as text and answers 200,
// and a GET /metrics that serves a page rendered once at start. The issue sets Pushkeep's push rate against it.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import express from 'express';

const port = Number(argValue('--port') ?? '0');
const metricsFile = argValue('--metrics-file');
const page = metricsFile === undefined ? Buffer.from('# no series\n') : readFileSync(metricsFile);
const gzipped = gzipSync(page);

const app = express();
app.disable('x-powered-by');
app.disable('etag');
const readText = express.text({ type: () => true, limit: '64mb' });

app.put('/metrics/job/*rest', readText, (req, res) => {
  res
    .status(200)
    .set('x-body-length', String(bodyLength(req.body)))
    .end();
});
app.post('/metrics/job/*rest', readText, (req, res) => {
  res
    .status(200)
    .set('x-body-length', String(bodyLength(req.body)))
    .end();
});
app.get('/metrics', (req, res) => {
  const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  res.status(200).type('text/plain; version=0.0.4; charset=utf-8');
  if (gzip) res.set('content-encoding', 'gzip');
  res.end(gzip ? gzipped : page);
});
app.get(['/-/ready', '/-/healthy'], (_req, res) => {
  res.status(200).type('text/plain; charset=utf-8').send('OK');
});

const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 60_000;
// Nothing to flush: a bare server may stop at once.
process.on('SIGTERM', () => process.exit(0));

function bodyLength(body: unknown): number {
  return typeof body === 'string' ? body.length : 0;
}

function argValue(name: string): string | undefined {
  const prefix = `${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
