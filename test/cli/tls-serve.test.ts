import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { request } from '../helpers/https.ts';
import { eventually, exited, runCli, startServe } from '../helpers/process.ts';
import { createTestCa, type TestCa } from '../helpers/tls.ts';

/** `musehub serve` as an operator runs it with MUSEHUB_TLS_CERT/KEY: refused when wrong, reloaded on SIGHUP. */
let ca: TestCa;
let dataDir: string;
beforeAll(async () => {
  ca = await createTestCa();
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-tls-serve-'));
});
afterAll(async () => {
  await ca.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

test('a bad TLS or proxy setting stops the start with one line naming it, exit 78', async () => {
  const good = await ca.issue('good');
  const other = await ca.issue('other');
  const expired = await ca.issue('expired', { days: -1 });
  const cases: [Record<string, string>, RegExp][] = [
    [
      { MUSEHUB_TLS_CERT: path.join(ca.dir, 'missing.pem'), MUSEHUB_TLS_KEY: good.keyPath },
      /^MUSEHUB_TLS_CERT: cannot read/,
    ],
    [{ MUSEHUB_TLS_CERT: good.certPath, MUSEHUB_TLS_KEY: other.keyPath }, /^MUSEHUB_TLS_KEY: .*is not the private key/],
    [{ MUSEHUB_TLS_CERT: expired.certPath, MUSEHUB_TLS_KEY: expired.keyPath }, /^MUSEHUB_TLS_CERT: .*expired on/],
    [{ MUSEHUB_TRUSTED_PROXIES: 'nginx.internal' }, /^MUSEHUB_TRUSTED_PROXIES: "nginx.internal" is not/],
  ];
  for (const [env, message] of cases) {
    const r = await runCli(['serve'], { ...env, MUSEHUB_DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(r.code).toBe(78);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.replace(/^musehub: configuration error: /, '')).toMatch(message);
  }
});

test('a certificate with under 14 days left starts, with a warning that says how many', async () => {
  const soon = await ca.issue('soon', { days: 5 });
  const { child, url } = await startServe(
    {
      DATABASE_URL: await createTestDatabase(),
      MUSEHUB_DATA_DIR: dataDir,
      MUSEHUB_WORKERS: '1',
      MUSEHUB_TLS_CERT: soon.chainPath,
      MUSEHUB_TLS_KEY: soon.keyPath,
    },
    [],
    /"url":"(https:\/\/[^"]+)"[^\n]*"gateway listening"/,
  );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  try {
    expect((await request(`${url}/health`, { ca: ca.ca })).status).toBe(200);
    // Logged before "listening"; the line may already be in the part startServe read.
    child.kill('SIGHUP');
    const warning = await eventually(() =>
      log.split('\n').find((l) => l.includes('certificate reloaded; it expires in')),
    );
    expect(JSON.parse(warning)).toMatchObject({
      level: 40,
      daysLeft: 4,
      msg: 'certificate reloaded; it expires in 4 days',
    });
  } finally {
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  }
});

test('--workers 2 over HTTPS: SIGHUP to the main process reloads the certificate in every worker; a bad one keeps the old', async () => {
  const first = await ca.issue('first');
  const certPath = path.join(ca.dir, 'live.pem');
  const keyPath = path.join(ca.dir, 'live.key');
  await fs.copyFile(first.chainPath, certPath);
  await fs.copyFile(first.keyPath, keyPath);
  const fingerprint = async (file: string) => new X509Certificate(await fs.readFile(file)).fingerprint256;
  const { child, url } = await startServe(
    {
      DATABASE_URL: await createTestDatabase(),
      MUSEHUB_DATA_DIR: dataDir,
      MUSEHUB_TLS_CERT: certPath,
      MUSEHUB_TLS_KEY: keyPath,
    },
    ['--workers', '2'],
    /"url":"(https:\/\/[^"]+)","workers":2[^\n]*"gateway listening"/,
  );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  try {
    const seen = async () => {
      // Fresh connections are spread over both workers: eight in a row show what every worker serves.
      const prints = new Set<string | undefined>();
      const pids = new Set<number>();
      for (let i = 0; i < 8; i++) {
        const r = await request(`${url}/health`, { ca: ca.ca });
        prints.add(r.fingerprint);
        pids.add(JSON.parse(r.body.toString()).pid);
      }
      return { prints: [...prints], pids: pids.size };
    };
    expect((await seen()).prints).toEqual([await fingerprint(first.certPath)]);

    const renewed = await ca.issue('renewed');
    await fs.copyFile(renewed.chainPath, certPath);
    await fs.copyFile(renewed.keyPath, keyPath);
    child.kill('SIGHUP');
    const after = await eventually(async () => {
      const s = await seen();
      return s.prints.length === 1 && s.prints[0] === (await fingerprint(renewed.certPath)) && s;
    });
    expect(after.pids).toBeGreaterThanOrEqual(1);
    await eventually(() => (log.match(/"certificate reloaded"/g) ?? []).length === 2);

    // A broken renewal: the key of another certificate. Both workers log it and keep serving.
    await fs.copyFile((await ca.issue('stray')).keyPath, keyPath);
    child.kill('SIGHUP');
    await eventually(
      () => (log.match(/certificate reload failed: still serving the previous certificate/g) ?? []).length === 2,
    );
    expect((await seen()).prints).toEqual([await fingerprint(renewed.certPath)]);
    expect(child.exitCode).toBeNull();
  } finally {
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  }
});
