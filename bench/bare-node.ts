// The ceiling for a Node gateway: node:http that reads each push body as text and answers 200, and serves a
// page rendered once at start. Pushkeep is measured against it from the same run.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { gzipSync } from 'node:zlib';

const port = Number(argValue('--port') ?? '0');
const metricsFile = argValue('--metrics-file');
const page = metricsFile === undefined ? Buffer.from('# no series\n') : readFileSync(metricsFile);
const gzipped = gzipSync(page);
const PAGE_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if ((req.method === 'PUT' || req.method === 'POST') && url.startsWith('/metrics/job/')) {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-length': '0', 'x-body-length': String(body.length) });
      res.end();
    });
    return;
  }
  if (req.method === 'GET' && url === '/metrics') {
    const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    const bytes = gzip ? gzipped : page;
    const headers: http.OutgoingHttpHeaders = { 'content-type': PAGE_TYPE, 'content-length': bytes.length };
    if (gzip) headers['content-encoding'] = 'gzip';
    res.writeHead(200, headers);
    res.end(bytes);
    return;
  }
  if (req.method === 'GET' && (url === '/-/ready' || url === '/-/healthy')) {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('OK');
    return;
  }
  req.resume();
  res.writeHead(404);
  res.end();
});

server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
// Nothing to flush: a bare server may stop at once.
process.on('SIGTERM', () => process.exit(0));

function argValue(name: string): string | undefined {
  const prefix = `${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}
