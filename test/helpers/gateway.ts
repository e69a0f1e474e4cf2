import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { EntityManager } from '@mikro-orm/postgresql';
import { expect, inject } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { checkIntegrity } from '../../src/integrity/fsck.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningGateway, startGateway } from '../../src/server.ts';
import { createToken, createUser } from '../../src/users/index.ts';
import { createTestDatabase, sql } from './db.ts';
import { sharedS3 } from './s3-on-demand.ts';

export interface TestGateway extends RunningGateway {
  databaseUrl: string;
  dataDir: string;
  em(): EntityManager;
  /** Runs the integrity invariants (musehub fsck) and fails the test with every problem found. */
  expectIntegrity(): Promise<void>;
  /**
   * Every musehub table's rows (object blobs included) and every object file, hashed: equal
   * fingerprints before and after a request mean it changed nothing.
   */
  fingerprint(): Promise<string>;
  /** Creates a user and returns a working token for them. */
  user(username: string): Promise<{ username: string; userId: string; token: string }>;
  /** fetch against the gateway; `token` adds the Authorization header. */
  request(
    method: string,
    p: string,
    opts?: { token?: string; json?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
}

/**
 * The environment for a gateway on the run's S3 server (test/global-setup.ts), under a key prefix
 * of its own unless one is given: files running in parallel share the bucket, never a key.
 */
export async function s3Env(prefix = `t-${randomBytes(6).toString('hex')}/`): Promise<Record<string, string>> {
  return { ...(await sharedS3(inject('s3Control'))).env, MUSEHUB_S3_PREFIX: prefix };
}

/** A client for the run's S3 server, as an operator's own tools would reach it. */
export function s3Client(env: Record<string, string>): S3Client {
  return new S3Client({
    endpoint: env.MUSEHUB_S3_ENDPOINT,
    region: env.MUSEHUB_S3_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Every key under a prefix of the bucket, with its size and ETag. */
export async function listKeys(env: Record<string, string>, under = ''): Promise<Map<string, string>> {
  const s3 = s3Client(env);
  const keys = new Map<string, string>();
  let token: string | undefined;
  try {
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: env.MUSEHUB_S3_BUCKET,
          Prefix: `${env.MUSEHUB_S3_PREFIX ?? ''}${under}`,
          ContinuationToken: token,
        }),
      );
      for (const o of page.Contents ?? []) keys.set(o.Key!, `${o.Size}:${o.ETag}`);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    s3.destroy();
  }
  return keys;
}

/**
 * A gateway running in another process, for the helpers that only need its URL and plain
 * requests (createRepo, wire, pushAll, pushLikeMuse).
 */
export function remoteGateway(url: string): TestGateway {
  return {
    url,
    request(
      method: string,
      p: string,
      opts: { token?: string; json?: unknown; headers?: Record<string, string> } = {},
    ) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.json !== undefined) headers['content-type'] = 'application/json';
      return fetch(`${url}${p}`, {
        method,
        headers,
        body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      });
    },
  } as TestGateway;
}

/** A real gateway on a loopback port, on its own fresh database. */
export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  if (env.MUSEHUB_OBJECT_STORE === 's3') {
    // The gateway finds credentials as in production: the AWS SDK's chain, here its environment step.
    process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY;
  }
  const databaseUrl = env.DATABASE_URL ?? (await createTestDatabase());
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-test-data-'));
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    PORT: '0',
    MUSEHUB_DATA_DIR: dataDir,
    // Abuse limits are off unless a test turns them on (test/reliability/limits.test.ts).
    MUSEHUB_RATE_LIMIT_PER_MINUTE: '0',
    MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO: '0',
    ...env,
    DATABASE_URL: databaseUrl,
  });
  const gw = await startGateway(config, createLogger(config.logLevel));
  const close = async () => {
    await gw.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  return {
    ...gw,
    close,
    databaseUrl,
    dataDir,
    em: () => gw.orm.em.fork(),
    async expectIntegrity() {
      const report = await checkIntegrity(gw.orm.em.fork(), gw.store);
      expect(report.problems).toEqual([]);
    },
    fingerprint: () =>
      fingerprint(databaseUrl, path.join(dataDir, 'objects'), config.objectStore === 's3' ? env : undefined),
    async user(username) {
      const em = gw.orm.em.fork();
      const u = await createUser(em, username);
      const { token } = await createToken(em, username);
      return { username, userId: u.userId, token };
    },
    request: remoteGateway(gw.url).request,
  };
}

async function fingerprint(databaseUrl: string, objectDir: string, s3?: Record<string, string>): Promise<string> {
  const tables = await sql<{ t: string }>(
    databaseUrl,
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'musehub\\_%' AND table_name <> 'musehub_migrations' ORDER BY 1`,
  );
  const h = createHash('sha256');
  for (const { t } of tables) {
    const [row] = await sql<{ md5: string }>(
      databaseUrl,
      `SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS md5 FROM ${t} x`,
    );
    h.update(`${t}:${row!.md5}\n`);
  }
  const files = await fs.readdir(objectDir, { recursive: true }).catch(() => [] as string[]);
  for (const f of files.sort()) {
    const file = path.join(objectDir, f);
    if ((await fs.stat(file)).isFile()) {
      h.update(
        `${f}:${createHash('sha256')
          .update(await fs.readFile(file))
          .digest('hex')}\n`,
      );
    }
  }
  if (s3) for (const [key, version] of await listKeys(s3)) h.update(`s3 ${key}:${version}\n`);
  return h.digest('hex');
}
