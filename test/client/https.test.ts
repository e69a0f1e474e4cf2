import type { ChildProcess } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { freeLoopbackPort } from '../../src/db/embedded-postgres.ts';
import { createTestDatabase, userWithToken } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { request } from '../helpers/https.ts';
import { type RunningNginx, startNginx } from '../helpers/nginx.ts';
import { eventually, exited, startServe } from '../helpers/process.ts';
import { createTestCa, type TestCa } from '../helpers/tls.ts';
import { expectSameTree, MuseUser, writeFiles } from './muse.ts';

/**
 * The real client at a name it does not exempt from HTTPS: 127.0.0.2 is this machine, but to the
 * client it is another one, so it sends its token only over verified TLS (a test CA given to it
 * with SSL_CERT_FILE). The same scenario runs against native TLS under --workers 2 and through
 * deploy/nginx-musehub.conf, and both renew their certificate with SIGHUP in the middle.
 */
let ca: TestCa;
let root: string;
beforeAll(async () => {
  ca = await createTestCa();
  root = await fs.mkdtemp('/tmp/musehub-client-https-');
  await fs.chmod(root, 0o755);
});
afterAll(async () => {
  await ca?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

const fingerprintOf = async (file: string) => new X509Certificate(await fs.readFile(file)).fingerprint256;

/** Copies a freshly issued pair over the served files (as certbot's renewal does). */
async function renew(certPath: string, keyPath: string): Promise<string> {
  const next = await ca.issue('127.0.0.2', { names: ['127.0.0.2'] });
  await fs.copyFile(next.chainPath, certPath);
  await fs.copyFile(next.keyPath, keyPath);
  return fingerprintOf(next.certPath);
}

/**
 * hub connect → auth login → push → clone → (certificate renewed, SIGHUP) → push → pull, every
 * tree compared byte for byte.
 */
async function scenario(
  name: string,
  hubUrl: string,
  token: string,
  renewAndReload: () => Promise<void>,
): Promise<void> {
  const wrapper = inject('museWrapper');
  const env = { SSL_CERT_FILE: ca.caPath };
  const alice = new MuseUser(wrapper, root, `alice-${name}`, env);
  const bob = new MuseUser(wrapper, root, `bob-${name}`, env);
  const created = await request(`${hubUrl}/api/v1/repos`, {
    method: 'POST',
    ca: ca.ca,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'over tls', visibility: 'public' }),
  });
  expect(created.status).toBe(201);
  expect(created.headers['strict-transport-security']).toBe('max-age=15552000');
  const remote = `${hubUrl}/alice/${JSON.parse(created.body.toString()).slug}`;

  const work = `${name}-work`;
  await alice.newRepo(work, { 'take1.mid': randomBytes(2000), 'stems/keys.wav': randomBytes(5 * 1024 * 1024) });
  const connected = await alice.ok(work, 'hub', 'connect', hubUrl);
  expect(connected).toContain(`Connected to ${new URL(hubUrl).host}`);
  // No --hub: the client takes the hub this repo is connected to.
  const login = await new MuseUser(wrapper, root, `alice-${name}`, { ...env, MUSE_TOKEN: token }).ok(
    work,
    'auth',
    'login',
    '--name',
    'alice',
  );
  expect(login).toContain(`Authenticated as human 'alice' on ${hubUrl}`);
  await alice.ok(work, 'remote', 'add', 'origin', remote);
  expect(await alice.ok(work, 'push', 'origin', 'main')).toMatch(/✅ Pushed 1 commit\(s\)/);

  // Bob's client checks the certificate: without the CA it refuses the hub.
  const untrusted = await new MuseUser(wrapper, root, `carol-${name}`).fails(
    '.',
    'clone',
    remote,
    `${root}/carol-${name}`,
  );
  expect(untrusted).toMatch(/CERTIFICATE_VERIFY_FAILED/);
  await bob.ok('.', 'clone', remote, path.join(root, `${name}-bob`));
  await expectSameTree(path.join(root, `${name}-bob`), path.join(root, work));

  await renewAndReload();

  await writeFiles(path.join(root, work), { 'take2.mid': randomBytes(2000) });
  await alice.ok(work, 'commit', '-m', 'after the renewal');
  expect(await alice.ok(work, 'push', 'origin', 'main')).toMatch(/✅ Pushed 1 commit\(s\)/);
  await bob.ok(`${name}-bob`, 'pull', 'origin', 'main');
  await expectSameTree(path.join(root, `${name}-bob`), path.join(root, work));
}

/** Polls fresh connections until `count` in a row present the certificate with `fingerprint`. */
async function expectServed(url: string, fingerprint: string, count = 6): Promise<void> {
  await eventually(async () => {
    for (let i = 0; i < count; i++) {
      if ((await request(`${url}/health`, { ca: ca.ca })).fingerprint !== fingerprint) return false;
    }
    return true;
  }, 30_000);
}

describe('native TLS, musehub serve --workers 2 at https://127.0.0.2', () => {
  let child: ChildProcess;
  let url: string;
  let dataDir: string;
  let certPath: string;
  let keyPath: string;
  let token: string;

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    token = await userWithToken(databaseUrl, 'alice');
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-client-tls-'));
    certPath = path.join(ca.dir, 'native.pem');
    keyPath = path.join(ca.dir, 'native.key');
    await renew(certPath, keyPath);
    ({ child, url } = await startServe(
      {
        DATABASE_URL: databaseUrl,
        MUSEHUB_DATA_DIR: dataDir,
        HOST: '127.0.0.2',
        MUSEHUB_TLS_CERT: certPath,
        MUSEHUB_TLS_KEY: keyPath,
      },
      ['--workers', '2'],
      /"url":"(https:\/\/[^"]+)","workers":2[^\n]*"gateway listening"/,
    ));
  });
  afterAll(async () => {
    if (child) {
      child.kill('SIGTERM');
      expect(await exited(child)).toBe(0);
    }
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  test('connect, login, push, clone; certificate renewed with SIGHUP; push, pull', async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.2:\d+$/);
    await scenario('native', url, token, async () => {
      const renewed = await renew(certPath, keyPath);
      child.kill('SIGHUP');
      await expectServed(url, renewed);
    });
  });
});

describe('behind nginx (deploy/nginx-musehub.conf) at https://127.0.0.2', () => {
  let gw: TestGateway;
  let nginx: RunningNginx;
  let hubUrl: string;
  let certPath: string;
  let keyPath: string;

  beforeAll(async () => {
    const port = await freeLoopbackPort();
    hubUrl = `https://127.0.0.2:${port}`;
    gw = await startTestGateway({ MUSEHUB_TRUSTED_PROXIES: 'loopback', MUSEHUB_PUBLIC_URL: hubUrl });
    certPath = path.join(ca.dir, 'nginx.pem');
    keyPath = path.join(ca.dir, 'nginx.key');
    await renew(certPath, keyPath);
    nginx = await startNginx({
      listen: { host: '127.0.0.2', port },
      redirectPort: await freeLoopbackPort(),
      upstream: new URL(gw.url).host,
      serverName: '127.0.0.2',
      certPath,
      keyPath,
    });
  });
  afterAll(async () => {
    await nginx?.close();
    await gw?.close();
  });

  test('connect, login, push, clone; nginx reloads a renewed certificate on SIGHUP; push, pull', async () => {
    const { token } = await gw.user('alice');
    await scenario('nginx', hubUrl, token, async () => {
      const renewed = await renew(certPath, keyPath);
      nginx.reload();
      await expectServed(hubUrl, renewed);
    });
    // Every request reached the gateway through the proxy, which it believes: HSTS went out,
    // and the links it printed use the public URL.
    const repo = await request(`${hubUrl}/api/v1/users/alice/repos/over-tls`, { ca: ca.ca });
    expect(JSON.parse(repo.body.toString()).cloneUrl).toBe(`${hubUrl}/alice/over-tls`);
    await gw.expectIntegrity();
  });
});
