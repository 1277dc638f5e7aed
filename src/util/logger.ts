import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level: string;
  readonly format: 'logfmt' | 'json';
}

/**
 * pino writes JSON; the official gateway's default is logfmt, so that format is a small
 * line-by-line translation of pino's output rather than a second logging library.
 */
export function createLogger(options: LoggerOptions, destination: NodeJS.WritableStream = process.stderr): Logger {
  const base = { level: options.level, base: null, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.format === 'json') return pino(base, pino.destination({ dest: 2, sync: true }));
  return pino(base, new LogfmtStream(destination));
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

class LogfmtStream extends Writable {
  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line) this.out.write(toLogfmt(JSON.parse(line) as Record<string, unknown>) + '\n');
    }
    done();
  }
}

function toLogfmt(entry: Record<string, unknown>): string {
  const { level, time, msg, ...rest } = entry;
  const parts = [`ts=${String(time)}`, `level=${LEVELS[Number(level)] ?? String(level)}`];
  if (msg !== undefined) parts.push(`msg=${quote(String(msg))}`);
  for (const [k, v] of Object.entries(rest)) {
    parts.push(`${k}=${quote(typeof v === 'string' ? v : JSON.stringify(v))}`);
  }
  return parts.join(' ');
}

function quote(v: string): string {
  return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}
