import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tlsServerOptions, type TlsSettings } from '../security/web-config.js';
import type { WebConfigSource } from '../security/web-config-source.js';
import type { Logger } from '../util/logger.js';

/**
 * HTTP, or HTTPS when the web config has tls_server_config. Slow clients are cut off: headers
 * must arrive within headersMs and the whole request within requestMs, checked every second
 * (Node's default check interval is 30 s, which would let a slowloris hold a socket that long).
 */
export function createHttpServer(
  app: http.RequestListener,
  webConfig: WebConfigSource | undefined,
  timeouts: { readonly headersMs: number; readonly requestMs: number },
  logger: Logger,
): http.Server {
  const serverOptions: http.ServerOptions = {
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(timeouts.headersMs / 2))),
  };
  const tls = webConfig?.current().tls;
  if (!webConfig || !tls) return http.createServer(serverOptions, app);

  const server = https.createServer({ ...serverOptions, ...tlsServerOptions(tls), handshakeTimeout: timeouts.headersMs }, app);
  logger.info({ clientAuth: tls.clientAuth, minVersion: tls.minVersion, http2: false }, 'TLS is enabled');
  if (webConfig.current().http2Requested) logger.debug('http_server_config.http2 is ignored: pushkeep serves HTTP/1.1');
  // Certificates rotate without a restart: the source notices changed files and new connections
  // get the new context. client_auth_type is fixed at startup (it decides requestCert).
  webConfig.onReload((config) => {
    if (config.tls) server.setSecureContext(tlsServerOptions(config.tls));
  });
  const clientAuth = tls.clientAuth;
  server.on('secureConnection', (socket: TLSSocket) => {
    const problem = clientCertificateProblem(socket, clientAuth, webConfig.current().tls);
    if (problem) {
      logger.debug({ remote: socket.remoteAddress, reason: problem }, 'TLS client refused');
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err, socket) => {
    logger.debug({ remote: socket.remoteAddress, err: err.message }, 'TLS handshake failed');
  });
  return server;
}

/**
 * What Go's crypto/tls checks in the handshake for the client auth types that Node cannot express
 * with requestCert/rejectUnauthorized alone, plus the toolkit's client_allowed_sans.
 */
function clientCertificateProblem(socket: TLSSocket, clientAuth: TlsSettings['clientAuth'], tls: TlsSettings | undefined): string | undefined {
  if (clientAuth === 'NoClientCert' || clientAuth === 'RequestClientCert') return undefined;
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && Object.keys(cert).length > 0;
  if (!presented) return clientAuth === 'VerifyClientCertIfGiven' ? undefined : 'no client certificate';
  if ((clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert') && !socket.authorized) {
    return `client certificate not trusted: ${String(socket.authorizationError)}`;
  }
  const allowed = tls?.clientAllowedSans;
  if (allowed) {
    const sans = (cert.subjectaltname ?? '').split(', ').map((entry) => entry.replace(/^[A-Za-z ]+:/, ''));
    if (!sans.some((san) => allowed.includes(san))) return 'client certificate has none of client_allowed_sans';
  }
  return undefined;
}
