import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  test('defaults', () => {
    const c = loadConfig({}, '/srv/hub');
    expect(c).toMatchObject({
      databaseUrl: undefined,
      host: '127.0.0.1',
      port: 8080,
      dataDir: '/srv/hub/.musehub',
      publicUrl: 'http://127.0.0.1:8080',
      logLevel: 'info',
    });
  });

  test('explicit values, trailing slash of the public URL dropped', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/hub',
      PORT: '9000',
      HOST: '0.0.0.0',
      MUSEHUB_PUBLIC_URL: 'https://hub.example/',
      MUSEHUB_DATA_DIR: '/var/lib/musehub',
    });
    expect(c).toMatchObject({
      databaseUrl: 'postgres://u:p@db:5432/hub',
      port: 9000,
      host: '0.0.0.0',
      publicUrl: 'https://hub.example',
      dataDir: '/var/lib/musehub',
    });
  });

  test.each([
    [{ PORT: 'abc' }, /^PORT: .*whole number.*"abc"/],
    [{ PORT: '70000' }, /^PORT: must be at most 65535/],
    [{ DATABASE_URL: 'mysql://x@y/z' }, /^DATABASE_URL: expected a postgres/],
    [{ DATABASE_URL: 'not a url' }, /^DATABASE_URL: /],
    [{ MUSEHUB_PUBLIC_URL: 'ftp://x' }, /^MUSEHUB_PUBLIC_URL: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: expected one of/],
    [{ MUSEHUB_REPO_CACHE_TTL_MS: '-5' }, /^MUSEHUB_REPO_CACHE_TTL_MS: /],
    [{ MUSEHUB_OBJECT_STORE: 'tape' }, /^MUSEHUB_OBJECT_STORE: expected filesystem, postgres or s3/],
    [{ MUSEHUB_OBJECT_STORE: 's3' }, /^MUSEHUB_S3_BUCKET: required when MUSEHUB_OBJECT_STORE=s3/],
    [{ MUSEHUB_S3_BUCKET: 'Not_A_Bucket' }, /^MUSEHUB_S3_BUCKET: expected an S3 bucket name/],
    [{ MUSEHUB_S3_PREFIX: 'hub' }, /^MUSEHUB_S3_PREFIX: expected a key prefix ending in "\/"/],
    [{ MUSEHUB_S3_ENDPOINT: 's3.example' }, /^MUSEHUB_S3_ENDPOINT: /],
    [{ MUSEHUB_S3_FORCE_PATH_STYLE: 'yes' }, /^MUSEHUB_S3_FORCE_PATH_STYLE: expected true or false/],
    [{ MUSEHUB_WORKERS: '0' }, /^MUSEHUB_WORKERS: must be at least 1/],
    [{ MUSEHUB_DB_STATEMENT_TIMEOUT_MS: '1.5' }, /^MUSEHUB_DB_STATEMENT_TIMEOUT_MS: /],
    [{ MUSEHUB_RATE_LIMIT_PER_MINUTE: 'lots' }, /^MUSEHUB_RATE_LIMIT_PER_MINUTE: /],
    [{ MUSEHUB_REQUEST_TIMEOUT_MS: '10' }, /^MUSEHUB_REQUEST_TIMEOUT_MS: must be at least 1000/],
    [
      { MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'loopback,10.0.0.0/99' },
      /^MUSEHUB_WEBHOOK_ALLOWED_HOSTS: not an IP address or CIDR/,
    ],
    [{ MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'intranet!' }, /^MUSEHUB_WEBHOOK_ALLOWED_HOSTS: "intranet!" is not loopback/],
    [{ MUSEHUB_MAX_CLONE_BYTES: '-1' }, /^MUSEHUB_MAX_CLONE_BYTES: /],
  ])('rejects %o with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrowError(ConfigError);
    expect(() => loadConfig(env)).toThrowError(message);
  });

  test('scale-out and limit defaults', () => {
    const c = loadConfig({});
    expect(c.workers).toBe(Math.min(os.availableParallelism(), 4));
    expect(c).toMatchObject({
      objectStore: 'filesystem',
      dbPoolMax: 10,
      dbStatementTimeoutMs: 60_000,
      requestTimeoutMs: 300_000,
      transport: { rateLimitPerMinute: 600, maxConcurrentPushesPerRepo: 8 },
    });
  });

  test('webhooks reach public addresses only unless allowed; the clone limit bounds object size', () => {
    expect(loadConfig({}).webhooks.allowedHosts).toEqual([]);
    expect(
      loadConfig({ MUSEHUB_WEBHOOK_ALLOWED_HOSTS: ' loopback , 10.0.0.0/8,,hooks.internal ' }).webhooks.allowedHosts,
    ).toEqual(['loopback', '10.0.0.0/8', 'hooks.internal']);
    // Just under the muse client's 64 MiB; an object larger than a clone can hold is refused too.
    expect(loadConfig({}).transport).toMatchObject({
      maxCloneBytes: 63 * 1024 * 1024,
      maxObjectBytes: 63 * 1024 * 1024 - 1024,
    });
    expect(loadConfig({ MUSEHUB_MAX_CLONE_BYTES: '0' }).transport).toMatchObject({
      maxCloneBytes: 0,
      maxObjectBytes: 64 * 1024 * 1024,
    });
  });

  test('the S3 store: bucket, prefix, endpoints and addressing from the environment; no settings otherwise', () => {
    expect(loadConfig({}).s3).toBeUndefined();
    expect(loadConfig({ MUSEHUB_OBJECT_STORE: 's3', MUSEHUB_S3_BUCKET: 'hub-objects' }).s3).toEqual({
      bucket: 'hub-objects',
      prefix: '',
      region: undefined,
      endpoint: undefined,
      presignEndpoint: undefined,
      forcePathStyle: false,
      timeoutMs: 30_000,
    });
    expect(
      loadConfig({
        MUSEHUB_OBJECT_STORE: 's3',
        MUSEHUB_S3_BUCKET: 'hub-objects',
        MUSEHUB_S3_PREFIX: 'eu/hub/',
        MUSEHUB_S3_REGION: 'auto',
        MUSEHUB_S3_ENDPOINT: 'http://minio.internal:9000',
        MUSEHUB_S3_PRESIGN_ENDPOINT: 'https://objects.hub.example',
        MUSEHUB_S3_FORCE_PATH_STYLE: 'true',
        MUSEHUB_S3_TIMEOUT_MS: '5000',
      }).s3,
    ).toEqual({
      bucket: 'hub-objects',
      prefix: 'eu/hub/',
      region: 'auto',
      endpoint: 'http://minio.internal:9000',
      presignEndpoint: 'https://objects.hub.example',
      forcePathStyle: true,
      timeoutMs: 5000,
    });
  });

  test('an empty variable counts as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 8080, databaseUrl: undefined });
  });
});

test('a bad value stops `musehub serve` with one line naming the variable', async () => {
  const child = spawn(process.execPath, [path.resolve('bin/musehub.mjs'), 'serve'], {
    env: { ...process.env, PORT: 'eighty', DATABASE_URL: '' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  expect(code).toBe(78);
  expect(stderr.trim().split('\n')).toEqual([expect.stringMatching(/^musehub: configuration error: PORT: /)]);
});
