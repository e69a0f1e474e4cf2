import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { checkIntegrity } from '../../src/integrity/fsck.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningGateway, startGateway } from '../../src/server.ts';
import { createToken, createUser } from '../../src/users/index.ts';
import { createTestDatabase, sql } from './db.ts';

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

/** A real gateway on a loopback port, on its own fresh database. */
export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
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
    fingerprint: () => fingerprint(databaseUrl, path.join(dataDir, 'objects')),
    async user(username) {
      const em = gw.orm.em.fork();
      const u = await createUser(em, username);
      const { token } = await createToken(em, username);
      return { username, userId: u.userId, token };
    },
    request(method, p, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.json !== undefined) headers['content-type'] = 'application/json';
      return fetch(`${gw.url}${p}`, {
        method,
        headers,
        body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
      });
    },
  };
}

async function fingerprint(databaseUrl: string, objectDir: string): Promise<string> {
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
  return h.digest('hex');
}
