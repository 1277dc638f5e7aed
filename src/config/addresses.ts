import { ConfigError } from './config-error.js';

// Addresses and URLs among the flags: listen addresses, the external URL's path and route
// prefix, the PostgreSQL URL (checked, and redacted for display).

export interface ListenAddress {
  /** undefined means every interface. */
  readonly host: string | undefined;
  readonly port: number;
}

/** Splits `host:port` as Go's net.SplitHostPort does (`:9091`, `127.0.0.1:0`, `[::1]:9091`). */
export function parseListenAddress(address: string): ListenAddress {
  return listenAddressOrThrow(address, 'listen address');
}

export function listenAddressOrThrow(address: string, source: string): ListenAddress {
  const bad = (reason: string): ConfigError => new ConfigError(`invalid value "${address}" for ${source}: ${reason}`);
  let host: string;
  let port: string;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0 || address[close + 1] !== ':') throw bad('expected [host]:port');
    host = address.slice(1, close);
    port = address.slice(close + 2);
  } else {
    const colon = address.lastIndexOf(':');
    if (colon < 0) throw bad('missing port, expected host:port or :port');
    host = address.slice(0, colon);
    port = address.slice(colon + 1);
    if (host.includes(':')) throw bad('IPv6 addresses must be written in brackets, e.g. [::1]:9091');
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw bad('port must be a number from 0 to 65535');
  return { host: host === '' ? undefined : host, port: Number(port) };
}

export function externalUrlPath(externalUrl: string): string {
  if (externalUrl === '') return '';
  const bad = (reason: string): ConfigError => new ConfigError(`invalid value "${externalUrl}" for --web.external-url: ${reason}`);
  if (/^["']|["']$/.test(externalUrl)) throw bad('URL must not begin or end with quotes');
  let url: URL;
  try {
    url = externalUrl.startsWith('/') ? new URL(externalUrl, 'http://localhost') : new URL(externalUrl);
  } catch {
    throw bad('not a URL');
  }
  const path = url.pathname.replace(/\/+$/, '');
  return path === '' || path.startsWith('/') ? path : `/${path}`;
}

/**
 * The official computeRoutePrefix: the external URL's path when no prefix is given, `/` for none,
 * otherwise one leading and no trailing slash.
 */
export function computeRoutePrefix(prefix: string, externalPath: string): string {
  const chosen = prefix === '' ? externalPath : prefix;
  const trimmed = chosen.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `/${trimmed}`;
}

export function withLeadingSlash(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}

export function checkPostgresUrl(value: string): void {
  const bad = (reason: string): ConfigError => new ConfigError(`invalid value for --storage.url: ${reason}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad('not a URL (expected postgres://user:password@host:5432/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw bad(`unsupported scheme "${url.protocol.replace(/:$/, '')}" (expected postgres://...)`);
  }
}

/** The status page must not show a database password. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    return '***';
  }
}
