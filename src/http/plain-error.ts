import type { ServerResponse } from 'node:http';

/**
 * Go's http.Error, which the official gateway answers every failure with: the message and one
 * newline as text/plain, and nosniff. Clients and scripts match on these bodies. Plain node API,
 * so that the push path served before Express (fast-path.ts) answers exactly as the routers do.
 */
export function sendPlainError(res: ServerResponse, status: number, message: string): void {
  const body = Buffer.from(`${message}\n`);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}
