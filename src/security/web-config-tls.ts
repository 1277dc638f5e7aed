// tls_server_config: Go's names for TLS versions, ciphers, curves and client auth types, read
// into Node's TLS options.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { isNull, scalarBool, scalarString, stringList, type Fail, type YamlMap } from './web-config-schema.js';
import type { ClientAuthType, TlsSettings } from './web-config.js';

export type TlsVersionName = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

const TLS_VERSIONS: Record<string, TlsVersionName> = {
  TLS10: 'TLSv1',
  TLS11: 'TLSv1.1',
  TLS12: 'TLSv1.2',
  TLS13: 'TLSv1.3',
};

/**
 * Go's tls.CipherSuites() names (the ones the toolkit accepts) → OpenSSL names. Go ignores
 * cipher_suites for TLS 1.3, so the three TLS 1.3 names are accepted and have no effect here either.
 */
const GO_CIPHERS: Record<string, string | null> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_AES_128_GCM_SHA256: null,
  TLS_AES_256_GCM_SHA384: null,
  TLS_CHACHA20_POLY1305_SHA256: null,
};

const GO_CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

const CLIENT_AUTH: Record<string, ClientAuthType> = {
  '': 'NoClientCert',
  NoClientCert: 'NoClientCert',
  RequestClientCert: 'RequestClientCert',
  RequireAnyClientCert: 'RequireAnyClientCert',
  // The toolkit keeps this old spelling working.
  RequireClientCert: 'RequireAnyClientCert',
  VerifyClientCertIfGiven: 'VerifyClientCertIfGiven',
  RequireAndVerifyClientCert: 'RequireAndVerifyClientCert',
};

export function tlsSettings(tls: YamlMap, dir: string, fail: Fail): TlsSettings | undefined {
  const str = (key: string): string | undefined => {
    const node = tls.get(key);
    return node === undefined || isNull(node) ? undefined : scalarString(node, fail);
  };
  const resolve = (p: string | undefined): string | undefined => (p ? path.resolve(dir, p) : undefined);
  const certFile = resolve(str('cert_file'));
  const keyFile = resolve(str('key_file'));
  const caFile = resolve(str('client_ca_file'));
  const certInline = str('cert');
  const keyInline = str('key');
  const caInline = str('client_ca');
  const clientAuthName = str('client_auth_type') ?? '';

  const enabled = Boolean(certFile || certInline || keyFile || keyInline || caFile || caInline || clientAuthName);
  if (!enabled) return undefined;
  if (!certFile && !certInline) fail('tls_server_config: missing one of cert or cert_file');
  if (!keyFile && !keyInline) fail('tls_server_config: missing one of key or key_file');

  const read = (what: string, file: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      return fail(`tls_server_config: failed to read ${what} (${file}): ${(err as Error).message}`);
    }
  };
  const cert = certFile ? read('cert_file', certFile) : certInline!;
  const key = keyFile ? read('key_file', keyFile) : keyInline!;
  const clientCa = caFile ? read('client_ca_file', caFile) : caInline;
  try {
    crypto.createPrivateKey(key);
    new crypto.X509Certificate(cert);
  } catch (err) {
    fail(`tls_server_config: failed to load X509KeyPair: ${(err as Error).message}`);
  }

  const clientAuth = CLIENT_AUTH[clientAuthName];
  if (!clientAuth) fail(`tls_server_config: invalid ClientAuth: ${clientAuthName}`, tls.get('client_auth_type'));
  if (clientCa !== undefined && clientAuth === 'NoClientCert') {
    fail("tls_server_config: client CA's have been configured without a Client Auth Policy");
  }
  const sansNode = tls.get('client_allowed_sans');
  const clientAllowedSans = sansNode === undefined || isNull(sansNode) ? undefined : stringList(sansNode, fail);
  if (clientAllowedSans && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    fail('tls_server_config: client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert');
  }

  const version = (key: string, fallback: TlsVersionName): TlsVersionName => {
    const name = str(key);
    if (name === undefined) return fallback;
    const v = TLS_VERSIONS[name];
    if (!v) fail(`tls_server_config: unknown TLS version: ${name}`, tls.get(key));
    return v!;
  };
  const minVersion = version('min_version', 'TLSv1.2');
  const maxVersion = version('max_version', 'TLSv1.3');

  const cipherNames = stringList(tls.get('cipher_suites'), fail);
  const ciphers: string[] = [];
  for (const name of cipherNames) {
    if (!(name in GO_CIPHERS)) fail(`tls_server_config: unknown cipher: ${name}`, tls.get('cipher_suites'));
    const openssl = GO_CIPHERS[name];
    if (openssl) ciphers.push(openssl);
  }
  const curveNames = stringList(tls.get('curve_preferences'), fail);
  const curves = curveNames.map((name) => GO_CURVES[name] ?? fail(`tls_server_config: unknown curve: ${name}`, tls.get('curve_preferences')));
  const preferNode = tls.get('prefer_server_cipher_suites');
  const honorCipherOrder = preferNode === undefined ? true : scalarBool(preferNode, fail);

  return {
    cert,
    key,
    clientCa,
    clientAuth: clientAuth!,
    clientAllowedSans,
    minVersion,
    maxVersion,
    // TLS 1.3 suites named in a cipher list would replace Node's TLS 1.3 defaults; Go keeps all of them.
    ciphers: ciphers.length > 0 ? ciphers.join(':') : undefined,
    ecdhCurve: curves.length > 0 ? curves.join(':') : undefined,
    honorCipherOrder,
    files: [certFile, keyFile, caFile].filter((f): f is string => f !== undefined),
  };
}

/** Node's TLS options for a TlsSettings (secure context plus the client-certificate request). */
export function tlsServerOptions(tls: TlsSettings): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.clientCa !== undefined ? { ca: tls.clientCa } : {}),
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
    ...(tls.ecdhCurve !== undefined ? { ecdhCurve: tls.ecdhCurve } : {}),
    honorCipherOrder: tls.honorCipherOrder,
    requestCert: tls.clientAuth !== 'NoClientCert',
    // Only this type is refused by the handshake itself; the others are checked after it (http-server.ts).
    rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
  };
}
