import type { Response } from 'express';

/**
 * Go's http.Error, which the official gateway answers every failure with: the message and one
 * newline as text/plain, and nosniff. Clients and scripts match on these bodies.
 */
export function sendPlainError(res: Response, status: number, message: string): void {
  res
    .status(status)
    .set('Content-Type', 'text/plain; charset=utf-8')
    .set('X-Content-Type-Options', 'nosniff')
    .send(`${message}\n`);
}
