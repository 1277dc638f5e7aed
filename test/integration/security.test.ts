/**
 * --web.config.file end to end: TLS with certificates made at test time, mutual TLS, basic auth
 * from an official-format file (which the official binary must accept too), the role extension
 * with bearer tokens, response headers, rate limit, reload, and strict parsing.
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebConfig, parseWebConfig } from '../../src/security/web-config.js';
import { requiredRole } from '../../src/http/auth.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { missingTools, titleWithTools } from '../helpers/tools.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushkeep-security-'));
const file = (name: string) => path.join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1/localhost, a client certificate it signs, and a stranger's self-signed one. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=pushkeep test CA');
  fs.writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  fs.writeFileSync(file('client.ext'), 'subjectAltName=DNS:batch.example\nextendedKeyUsage=clientAuth\n');
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=batch');
  openssl(
    'x509',
    '-req',
    '-in',
    'client.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'client.crt',
    '-days',
    '2',
    '-extfile',
    'client.ext',
  );
  openssl('req', '-x509', ...ec, '-keyout', 'stranger.key', '-out', 'stranger.crt', '-days', '2', '-subj', '/CN=stranger');
}

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface RequestOptions {
  readonly method?: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  readonly basic?: [string, string];
  readonly bearer?: string;
  /** Client certificate name in `dir` (`client` → client.crt/client.key). */
  readonly cert?: string;
}

/** One request over HTTP or HTTPS (trusting the test CA), with optional credentials and client certificate. */
function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.basic) headers.Authorization = `Basic ${Buffer.from(options.basic.join(':')).toString('base64')}`;
  if (options.bearer) headers.Authorization = `Bearer ${options.bearer}`;
  // Node's client sends a DELETE or GET body without a length unless told.
  if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
  const tls = url.startsWith('https:')
    ? {
        ca: fs.readFileSync(file('ca.crt')),
        ...(options.cert ? { cert: fs.readFileSync(file(`${options.cert}.crt`)), key: fs.readFileSync(file(`${options.cert}.key`)) } : {}),
        agent: false as const,
      }
    : {};
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).request(url, { method: options.method ?? 'GET', headers, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end(options.body);
  });
}

const HASH = bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$');
const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

// Every suite but requiredRole's serves TLS or reads certificates that openssl makes.
const NO_OPENSSL = missingTools('openssl');
beforeAll(() => {
  if (!NO_OPENSSL) makeCertificates();
});

describe.skipIf(NO_OPENSSL)(titleWithTools('official format: TLS and basic_auth_users', 'openssl'), () => {
  // Relative paths: the toolkit resolves them against the config file's directory.
  const config = `tls_server_config:
  cert_file: server.crt
  key_file: server.key
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: ${HASH}
`;
  let server: TestServer;
  beforeAll(async () => {
    fs.writeFileSync(file('official.yml'), config);
    server = await startTestServer({ webConfigFile: file('official.yml') });
  });
  afterAll(() => server?.close());

  it('serves HTTPS with the configured certificate', () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it.each(['/metrics', '/-/healthy', '/-/ready', '/api/v1/status', '/', '/nonexistent'])('GET %s without credentials is the official 401', async (p) => {
    const reply = await request(`${server.url}${p}`);
    expect(reply.status).toBe(401);
    expect(reply.body).toBe('Unauthorized\n');
    expect(reply.headers['www-authenticate']).toBe('Basic');
    expect(reply.headers['x-frame-options']).toBe('deny');
  });

  it('refuses pushes and deletes without credentials and with a wrong password, changing nothing', async () => {
    for (const basic of [undefined, ['alice', 'wrong'] as [string, string], ['mallory', 's3cret'] as [string, string]]) {
      for (const method of ['PUT', 'POST', 'DELETE']) {
        const reply = await request(`${server.url}/metrics/job/j`, { method, body: 'x 1\n', ...(basic ? { basic } : {}) });
        expect(reply.status, `${method} ${String(basic)} ${reply.body}`).toBe(401);
      }
    }
    const scrape = await request(`${server.url}/metrics`, { basic: ['alice', 's3cret'] });
    expect(scrape.body).not.toContain('job="j"');
  });

  it('accepts the user on every endpoint and adds the configured headers', async () => {
    const push = await request(`${server.url}/metrics/job/j`, { method: 'PUT', body: 'x 1\n', basic: ['alice', 's3cret'] });
    expect(push.status).toBe(200);
    expect(push.headers['strict-transport-security']).toBe('max-age=31536000');
    const scrape = await request(`${server.url}/metrics`, { basic: ['alice', 's3cret'] });
    expect(scrape.status).toBe(200);
    expect(scrape.body).toContain('x{instance="",job="j"} 1');
    expect((await request(`${server.url}/-/healthy`, { basic: ['alice', 's3cret'] })).status).toBe(200);
  });

  it('the official binary accepts the very same file and behaves the same', async () => {
    const port = 19300 + Math.floor(Math.random() * 500);
    const child = spawn(
      'prometheus-pushgateway',
      [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', `--web.config.file=${file('official.yml')}`],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const url = `https://127.0.0.1:${port}`;
      let ready: Reply | undefined;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = await request(`${url}/-/healthy`, { basic: ['alice', 's3cret'] }).catch(() => undefined);
        if (!ready) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ready?.status, stderr).toBe(200);
      const denied = await request(`${url}/metrics`);
      expect(denied.status).toBe(401);
      expect(denied.body).toBe('Unauthorized\n');
      expect(denied.headers['www-authenticate']).toBe('Basic');
      expect((await request(`${url}/metrics/job/j`, { method: 'PUT', body: 'x 1\n', basic: ['alice', 's3cret'] })).status).toBe(200);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe.skipIf(NO_OPENSSL)(titleWithTools('mutual TLS', 'openssl'), () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const start = async (clientAuth: string, extra = '') => {
    const name = `mtls-${clientAuth}.yml`;
    fs.writeFileSync(
      file(name),
      `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\n  client_ca_file: ca.crt\n  client_auth_type: ${clientAuth}\n${extra}`,
    );
    const s = await startTestServer({ webConfigFile: file(name) });
    servers.push(s);
    return s;
  };
  const outcome = (p: Promise<Reply>) =>
    p.then(
      (r) => r.status,
      () => 'refused',
    );

  it('RequireAndVerifyClientCert: only a certificate signed by the client CA gets in', async () => {
    const s = await start('RequireAndVerifyClientCert');
    expect(await outcome(request(`${s.url}/-/healthy`))).toBe('refused');
    expect(await outcome(request(`${s.url}/-/healthy`, { cert: 'stranger' }))).toBe('refused');
    expect(await outcome(request(`${s.url}/-/healthy`, { cert: 'client' }))).toBe(200);
  });

  it('VerifyClientCertIfGiven: no certificate is fine, an untrusted one is not', async () => {
    const s = await start('VerifyClientCertIfGiven');
    expect(await outcome(request(`${s.url}/-/healthy`))).toBe(200);
    expect(await outcome(request(`${s.url}/-/healthy`, { cert: 'stranger' }))).toBe('refused');
    expect(await outcome(request(`${s.url}/-/healthy`, { cert: 'client' }))).toBe(200);
  });

  it('RequireAnyClientCert: any certificate, none refused', async () => {
    const s = await start('RequireAnyClientCert');
    expect(await outcome(request(`${s.url}/-/healthy`))).toBe('refused');
    expect(await outcome(request(`${s.url}/-/healthy`, { cert: 'stranger' }))).toBe(200);
  });

  it('client_allowed_sans: a trusted certificate without an allowed SAN is refused', async () => {
    const ok = await start('RequireAndVerifyClientCert', '  client_allowed_sans: [batch.example]\n');
    expect(await outcome(request(`${ok.url}/-/healthy`, { cert: 'client' }))).toBe(200);
    fs.writeFileSync(
      file('sans-other.yml'),
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  client_allowed_sans: [other.example]\n`,
    );
    const other = await startTestServer({ webConfigFile: file('sans-other.yml') });
    servers.push(other);
    expect(await outcome(request(`${other.url}/-/healthy`, { cert: 'client' }))).toBe('refused');
  });

  it('min_version TLS13 refuses a TLS 1.2 client', async () => {
    fs.writeFileSync(file('tls13.yml'), `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n`);
    const s = await startTestServer({ webConfigFile: file('tls13.yml') });
    servers.push(s);
    const tls12 = new Promise<string>((resolve) => {
      const req = https.request(`${s.url}/-/healthy`, { ca: fs.readFileSync(file('ca.crt')), maxVersion: 'TLSv1.2', agent: false }, () => resolve('connected'));
      req.on('error', () => resolve('refused'));
      req.end();
    });
    expect(await tls12).toBe('refused');
    expect(await outcome(request(`${s.url}/-/healthy`))).toBe(200);
  });
});

describe.skipIf(NO_OPENSSL)(titleWithTools('roles (pushkeep_authorization) and bearer tokens', 'openssl'), () => {
  const tokens = { pusher: 'push-token-0123456789', scraper: 'scrape-token-0123456789' };
  const config = `basic_auth_users:
  ci: ${HASH}
  prometheus: ${HASH}
  ops: ${HASH}
pushkeep_authorization:
  users:
    ci: [push]
    prometheus: [scrape]
    ops: [admin, push, scrape, read, health]
  bearer_tokens:
    - name: batch-jobs
      sha256: ${sha256(tokens.pusher)}
      roles: [push]
    - name: grafana-agent
      sha256: ${sha256(tokens.scraper).toUpperCase()}
      roles: [scrape]
  anonymous: [health]
`;
  let server: TestServer;
  beforeAll(async () => {
    fs.writeFileSync(file('roles.yml'), config);
    server = await startTestServer({ webConfigFile: file('roles.yml'), adminApi: true, lifecycle: true } as never);
  });
  afterAll(() => server?.close());

  const as = (who: 'ci' | 'prometheus' | 'ops'): RequestOptions => ({ basic: [who, 's3cret'] });

  it('a push credential pushes but cannot scrape, read or wipe', async () => {
    expect((await request(`${server.url}/metrics/job/roles`, { method: 'PUT', body: 'r 1\n', ...as('ci') })).status).toBe(200);
    expect((await request(`${server.url}/metrics/job/roles2`, { method: 'POST', body: 'r2 1\n', bearer: tokens.pusher })).status).toBe(200);
    for (const [method, p] of [
      ['GET', '/metrics'],
      ['GET', '/api/v1/metrics'],
      ['PUT', '/api/v1/admin/wipe'],
      ['PUT', '/API/V1/ADMIN/WIPE'],
      ['POST', '/-/quit'],
    ] as const) {
      for (const creds of [as('ci'), { bearer: tokens.pusher }]) {
        const reply = await request(`${server.url}${p}`, { method, ...creds });
        expect(reply.status, `${method} ${p}`).toBe(403);
        expect(reply.body).toMatch(/^Forbidden: (user "ci"|token "batch-jobs") does not have the (scrape|read|admin) role\n$/);
      }
    }
    const scrape = await request(`${server.url}/metrics`, as('prometheus'));
    expect(scrape.body).toContain('r{instance="",job="roles"} 1');
    expect(scrape.body).toContain('r2{instance="",job="roles2"} 1');
  });

  it('a scrape credential scrapes but cannot push or delete', async () => {
    expect((await request(`${server.url}/metrics`, { bearer: tokens.scraper })).status).toBe(200);
    for (const method of ['PUT', 'POST', 'DELETE']) {
      expect((await request(`${server.url}/metrics/job/roles`, { method, body: 'r 2\n', ...as('prometheus') })).status).toBe(403);
      expect((await request(`${server.url}/metrics/job/roles`, { method, body: 'r 2\n', bearer: tokens.scraper })).status).toBe(403);
    }
    expect((await request(`${server.url}/metrics`, as('prometheus'))).body).toContain('r{instance="",job="roles"} 1');
  });

  it('unknown tokens and missing credentials get 401; anonymous gets only what the file grants', async () => {
    const wrong = await request(`${server.url}/metrics`, { bearer: 'guess' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toBe('Unauthorized\n');
    expect((await request(`${server.url}/metrics`)).status).toBe(401);
    expect((await request(`${server.url}/-/healthy`)).status).toBe(200);
    expect((await request(`${server.url}/metrics/job/x`, { method: 'PUT', body: 'x 1\n' })).status).toBe(401);
  });

  it('the admin credential may wipe', async () => {
    const reply = await request(`${server.url}/api/v1/admin/wipe`, { method: 'PUT', ...as('ops') });
    expect([202, 404]).toContain(reply.status);
  });
});

describe('requiredRole', () => {
  it.each([
    ['PUT', '/metrics/job/a', '', 'push'],
    ['DELETE', '/metrics/job@base64/YQ', '', 'push'],
    ['GET', '/metrics/job/a', '', 'push'],
    ['GET', '/metrics', '', 'scrape'],
    ['GET', '/METRICS/', '', 'scrape'],
    ['POST', '/metrics', '', 'read'],
    ['PUT', '/api/v1/admin/wipe', '', 'admin'],
    ['PUT', '/Api/V1/Admin/Wipe/', '', 'admin'],
    ['POST', '/pg/-/quit', '/pg', 'admin'],
    ['GET', '/-/quit', '/pg', 'admin'],
    ['POST', '/-/reload', '', 'admin'],
    ['GET', '/pg/metrics', '/pg', 'scrape'],
    ['PUT', '/pg/metrics/job/x', '/pg', 'push'],
    ['GET', '/-/healthy', '', 'health'],
    ['GET', '/api/v1/metrics', '', 'read'],
    ['GET', '/', '', 'read'],
    ['GET', '/static/x.js', '', 'read'],
  ])('%s %s (prefix %j) needs %s', (method, p, prefix, role) => {
    expect(requiredRole(method, p, prefix, '/metrics')).toBe(role);
  });
});

describe.skipIf(NO_OPENSSL)(titleWithTools('web config file checks', 'openssl'), () => {
  const bad = (text: string) => () => parseWebConfig(text, file('x.yml'));
  it.each([
    ['an unknown top-level key', 'basic_auth_user:\n  a: b\n', /line 1: field basic_auth_user not found in type web\.Config/],
    ['an unknown TLS key', 'tls_server_config:\n  certfile: a\n', /line 2: field certfile not found in type web\.TLSConfig/],
    ['a password that is not a bcrypt hash', 'basic_auth_users:\n  a: plaintext\n', /not a bcrypt hash/],
    ['a header that cannot be set', 'http_server_config:\n  headers:\n    X-Custom: 1\n', /HTTP header "X-Custom" can not be configured/],
    ['a bad X-Frame-Options', 'http_server_config:\n  headers:\n    X-Frame-Options: allow\n', /invalid value for X-Frame-Options/],
    ['a key without a certificate', `tls_server_config:\n  key_file: ${file('server.key')}\n`, /missing one of cert or cert_file/],
    [
      'an unknown cipher',
      `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n`,
      /unknown cipher/,
    ],
    [
      'a client CA without client auth',
      `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\n  client_ca_file: ${file('ca.crt')}\n`,
      /without a Client Auth Policy/,
    ],
    ['an unknown role', `basic_auth_users:\n  a: ${HASH}\npushkeep_authorization:\n  users:\n    a: [root]\n`, /unknown role "root"/],
    ['a user without roles', `basic_auth_users:\n  a: ${HASH}\npushkeep_authorization:\n  anonymous: [health]\n`, /no roles are given/],
    ['a token that is not a sha256', 'pushkeep_authorization:\n  bearer_tokens:\n    - name: t\n      sha256: abc\n      roles: [push]\n', /64 hex digits/],
  ])('refuses %s', (_what, text, message) => {
    expect(bad(text)).toThrow(message);
  });

  it('maps Go cipher names to OpenSSL names and accepts an empty file', () => {
    fs.writeFileSync(
      file('ciphers.yml'),
      `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n  curve_preferences: [CurveP256, X25519]\n  max_version: TLS12\n`,
    );
    const tls = loadWebConfig(file('ciphers.yml')).tls!;
    expect(tls.ciphers).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
    expect(tls.ecdhCurve).toBe('P-256:X25519');
    expect(tls.maxVersion).toBe('TLSv1.2');
    expect(parseWebConfig('', 'empty.yml').users.size).toBe(0);
  });

  it('refuses to start on a broken file', async () => {
    fs.writeFileSync(file('broken.yml'), 'basic_auth_users:\n  a: b\n');
    await expect(startTestServer({ webConfigFile: file('broken.yml') })).rejects.toThrow(/not a bcrypt hash/);
  });
});

describe.skipIf(NO_OPENSSL)(titleWithTools('reload, headers and rate limit', 'openssl'), () => {
  it('picks up an edited file within a second or two and keeps the last good one when the edit is broken', async () => {
    fs.writeFileSync(file('reload.yml'), `basic_auth_users:\n  alice: ${HASH}\n`);
    const s = await startTestServer({ webConfigFile: file('reload.yml') });
    try {
      expect((await request(`${s.url}/-/healthy`, { basic: ['bob', 's3cret'] })).status).toBe(401);
      fs.writeFileSync(file('reload.yml'), `basic_auth_users:\n  alice: ${HASH}\n  bob: ${HASH}\n`);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await request(`${s.url}/-/healthy`, { basic: ['bob', 's3cret'] })).status).toBe(200);
      fs.writeFileSync(file('reload.yml'), 'basic_auth_users: [\n');
      await new Promise((r) => setTimeout(r, 1100));
      expect((await request(`${s.url}/-/healthy`, { basic: ['bob', 's3cret'] })).status).toBe(200);
      expect((await request(`${s.url}/-/healthy`)).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  it('rate_limit answers 429 beyond the burst', async () => {
    fs.writeFileSync(file('rate.yml'), 'rate_limit:\n  interval: 1m\n  burst: 3\n');
    const s = await startTestServer({ webConfigFile: file('rate.yml') });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await request(`${s.url}/-/healthy`)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await s.close();
    }
  });
});
