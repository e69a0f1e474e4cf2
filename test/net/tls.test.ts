import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { freeLoopbackPort } from '../../src/db/embedded-postgres.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { request } from '../helpers/https.ts';
import { createTestCa, type TestCa } from '../helpers/tls.ts';

/** Native HTTPS: MUSEHUB_TLS_CERT/KEY checked at start, served with TLS ≥ 1.2, reloaded in place. */
let ca: TestCa;
let certPath: string;
let keyPath: string;
beforeAll(async () => {
  ca = await createTestCa();
  const pair = await ca.issue('gateway');
  certPath = `${ca.dir}/served.pem`;
  keyPath = `${ca.dir}/served.key`;
  await fs.copyFile(pair.chainPath, certPath);
  await fs.copyFile(pair.keyPath, keyPath);
});
afterAll(() => ca.close());

const fingerprintOf = async (file: string) => new X509Certificate(await fs.readFile(file)).fingerprint256;

describe('start-up checks stop with one line naming the variable', () => {
  const configError = (env: Record<string, string>) => {
    try {
      loadConfig({ MUSEHUB_TLS_CERT: certPath, MUSEHUB_TLS_KEY: keyPath, ...env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('loadConfig accepted it');
  };

  test('missing files, a key of another certificate, an expired certificate, half a pair', async () => {
    const other = await ca.issue('other');
    const expired = await ca.issue('expired', { days: -1 });
    expect(configError({ MUSEHUB_TLS_CERT: `${ca.dir}/nope.pem` })).toMatch(
      /^MUSEHUB_TLS_CERT: cannot read .*nope\.pem \(ENOENT\)/,
    );
    expect(configError({ MUSEHUB_TLS_KEY: `${ca.dir}/nope.key` })).toMatch(/^MUSEHUB_TLS_KEY: cannot read/);
    expect(configError({ MUSEHUB_TLS_KEY: other.keyPath })).toMatch(
      /^MUSEHUB_TLS_KEY: .* is not the private key of the certificate/,
    );
    expect(configError({ MUSEHUB_TLS_KEY: certPath })).toMatch(
      /^MUSEHUB_TLS_KEY: .* holds no readable PEM private key/,
    );
    expect(configError({ MUSEHUB_TLS_CERT: keyPath })).toMatch(/^MUSEHUB_TLS_CERT: .* holds no PEM certificate/);
    expect(configError({ MUSEHUB_TLS_CERT: expired.certPath, MUSEHUB_TLS_KEY: expired.keyPath })).toMatch(
      /^MUSEHUB_TLS_CERT: the certificate in .* expired on 20\d\d-/,
    );
    expect(configError({ MUSEHUB_TLS_KEY: '' })).toMatch(/^MUSEHUB_TLS_KEY: required with MUSEHUB_TLS_CERT/);
    expect(configError({ MUSEHUB_TLS_CERT: '' })).toMatch(/^MUSEHUB_TLS_CERT: required with MUSEHUB_TLS_KEY/);
    expect(configError({ MUSEHUB_TLS_CERT: '', MUSEHUB_TLS_KEY: '', MUSEHUB_HTTP_REDIRECT_PORT: '8081' })).toMatch(
      /^MUSEHUB_HTTP_REDIRECT_PORT: only with HTTPS/,
    );
    expect(configError({ PORT: '8443', MUSEHUB_HTTP_REDIRECT_PORT: '8443' })).toMatch(
      /^MUSEHUB_HTTP_REDIRECT_PORT: must differ/,
    );
    expect(configError({ MUSEHUB_TRUSTED_PROXIES: 'loopback, 10.0.0.0/33' })).toMatch(
      /^MUSEHUB_TRUSTED_PROXIES: "10.0.0.0\/33" is not loopback, private, an IP address or a CIDR range/,
    );
    expect(configError({ MUSEHUB_TRUSTED_PROXIES: 'everyone' })).toMatch(/^MUSEHUB_TRUSTED_PROXIES: "everyone"/);
  });

  test('with HTTPS the public URL defaults to https://', () => {
    const c = loadConfig({ MUSEHUB_TLS_CERT: certPath, MUSEHUB_TLS_KEY: keyPath, HOST: '127.0.0.2', PORT: '8443' });
    expect(c.publicUrl).toBe('https://127.0.0.2:8443');
    expect(c.tls).toEqual({ certPath, keyPath });
    expect(loadConfig({ MUSEHUB_TRUSTED_PROXIES: 'loopback, 10.1.2.3 ,fd00::/8' }).trustedProxies).toEqual([
      'loopback',
      '10.1.2.3',
      'fd00::/8',
    ]);
  });
});

describe('an HTTPS gateway', () => {
  let gw: TestGateway;
  let redirectPort: number;
  beforeAll(async () => {
    redirectPort = await freeLoopbackPort();
    gw = await startTestGateway({
      MUSEHUB_TLS_CERT: certPath,
      MUSEHUB_TLS_KEY: keyPath,
      MUSEHUB_HTTP_REDIRECT_PORT: String(redirectPort),
    });
  });
  afterAll(() => gw?.close());

  test('serves HTTPS with the chain, HSTS on every answer, links under https://', async () => {
    expect(gw.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await request(`${gw.url}/health`, { ca: ca.ca });
    expect(health.status).toBe(200);
    expect(health.headers['strict-transport-security']).toBe('max-age=15552000');
    expect(health.fingerprint).toBe(await fingerprintOf(certPath));
    const missing = await request(`${gw.url}/api/v1/repos/00000000-0000-0000-0000-000000000000`, { ca: ca.ca });
    expect(missing.status).toBe(404);
    expect(missing.headers['strict-transport-security']).toBe('max-age=15552000');
    const openapi = JSON.parse((await request(`${gw.url}/openapi.json`, { ca: ca.ca })).body.toString());
    expect(openapi.servers[0].url).toBe(`${gw.url}/api/v1`);
  });

  test('refuses TLS 1.1, an untrusted client certificate check, and plain HTTP on the HTTPS port', async () => {
    await expect(request(`${gw.url}/health`, { ca: ca.ca, maxVersion: 'TLSv1.1' })).rejects.toThrow();
    // A client without the CA refuses the certificate: nothing is served unverified by accident.
    await expect(request(`${gw.url}/health`)).rejects.toThrow(/certificate/);
    const plain = await request(`${gw.url.replace('https', 'http')}/health`).catch((err: Error) => err);
    expect(plain instanceof Error ? plain.message : plain.status).not.toBe(200);
  });

  test('the redirect port sends GET with 301 and a push with 308 to the same path over HTTPS', async () => {
    const base = `http://127.0.0.1:${redirectPort}`;
    const get = await request(`${base}/alice/demo/refs?x=1`);
    expect(get.status).toBe(301);
    expect(get.headers.location).toBe(`${gw.url}/alice/demo/refs?x=1`);
    expect(get.headers['strict-transport-security']).toBeUndefined();
    const push = await request(`${base}/alice/demo/push`, { method: 'POST', body: 'x' });
    expect(push.status).toBe(308);
    expect(push.headers.location).toBe(`${gw.url}/alice/demo/push`);
  });

  test('reload: new connections get the new certificate, an open one keeps working; a bad pair keeps the old', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.ca });
    try {
      const before = await request(`${gw.url}/health`, { agent });
      const renewed = await ca.issue('renewed');
      await fs.copyFile(renewed.chainPath, certPath);
      await fs.copyFile(renewed.keyPath, keyPath);
      expect(gw.reloadTls()).toBe(true);
      const fresh = await request(`${gw.url}/health`, { ca: ca.ca });
      expect(fresh.fingerprint).toBe(await fingerprintOf(renewed.certPath));
      expect(fresh.fingerprint).not.toBe(before.fingerprint);
      // The kept-alive connection made before the reload still answers.
      const reused = await request(`${gw.url}/health`, { agent });
      expect(reused.status).toBe(200);
      expect(reused.fingerprint).toBe(before.fingerprint);

      // A renewal gone wrong: a key that is not the certificate's. Nothing changes.
      const stray = await ca.issue('stray');
      await fs.copyFile(stray.keyPath, keyPath);
      expect(gw.reloadTls()).toBe(false);
      expect((await request(`${gw.url}/health`, { ca: ca.ca })).fingerprint).toBe(
        await fingerprintOf(renewed.certPath),
      );
      await fs.rm(certPath);
      expect(gw.reloadTls()).toBe(false);
      expect((await request(`${gw.url}/health`, { ca: ca.ca })).status).toBe(200);
      await fs.copyFile(renewed.chainPath, certPath);
      await fs.copyFile(renewed.keyPath, keyPath);
    } finally {
      agent.destroy();
    }
  });
});
