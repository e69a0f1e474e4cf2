import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { spawnGateway } from './gateway.ts';

/**
 * What a standalone bench script (`npm run bench:refs`, `bench:incremental`) starts: a fresh
 * embedded PostgreSQL, one single-worker gateway on it, and user `bench` with a token.
 */
export async function soloHub(name: string) {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), `musehub-bench-${name}-`));
  await fs.chmod(tmp, 0o711);
  const db = await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  const gw = await spawnGateway(db.url, path.join(tmp, 'data'), { MUSEHUB_WORKERS: '1' }).catch(async (err) => {
    await db.stop();
    throw err;
  });
  const orm = await openOrm(db.url, 2);
  await createUser(orm.em.fork(), 'bench');
  const { token } = await createToken(orm.em.fork(), 'bench');
  await orm.close();
  return {
    tmp,
    gw,
    token,
    /** A public repo of `bench`; its URL (…/bench/{slug}). */
    async createRepo(repoName: string): Promise<string> {
      const res = await fetch(`${gw.url}/api/v1/repos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: repoName, visibility: 'public' }),
      });
      if (!res.ok) throw new Error(`creating ${repoName}: HTTP ${res.status} ${await res.text()}`);
      return `${gw.url}/bench/${((await res.json()) as { slug: string }).slug}`;
    },
    async stop() {
      await gw.stop();
      await db.stop();
      await fs.rm(tmp, { recursive: true, force: true });
    },
  };
}
