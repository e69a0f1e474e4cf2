import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo, REPO_404 } from '../helpers/builders.ts';
import { createTestDatabase, userWithToken } from '../helpers/db.ts';
import { remoteGateway, s3Env } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, presignPut, pushLikeMuse, wire } from '../helpers/muse.ts';
import { eventually, exited, startServe } from '../helpers/process.ts';
import { type S3TestServer, startS3TestServer } from '../helpers/s3-server.ts';

/**
 * The deployment that outgrows one machine: gateway processes that share only DATABASE_URL and
 * the bucket — each its own data directory, no shared filesystem, no shared presign secret.
 * And what each does when the bucket stops answering.
 */
const dirs: string[] = [];
const children: ChildProcess[] = [];
let databaseUrl: string;
let token: string;

async function serve(env: Record<string, string>) {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-s3-gw-'));
  dirs.push(dataDir);
  const { child, url } = await startServe({
    DATABASE_URL: databaseUrl,
    MUSEHUB_DATA_DIR: dataDir,
    MUSEHUB_WORKERS: '1',
    MUSEHUB_RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  children.push(child);
  return remoteGateway(url);
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  token = await userWithToken(databaseUrl, 'alice');
});
afterAll(async () => {
  for (const child of children) {
    child.kill('SIGTERM');
    await exited(child);
  }
  for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
});

function history() {
  const { snapshot, objects } = makeSnapshot({
    'stem.wav': randomBytes(200 * 1024),
    'notes.txt': `bridge ${randomBytes(4).toString('hex')}`,
  });
  return { commit: makeCommit({ snapshotId: snapshot.snapshot_id }), snapshot, objects };
}

test('two gateway processes with their own data directories share only the database and the bucket', async () => {
  const env = await s3Env();
  const a = await serve(env);
  const b = await serve(env);
  const repo = await createRepo(a, token, { name: 'two machines', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const { commit, snapshot, objects } = history();
  const pushed = await pushLikeMuse(a, remote, token, { commits: [commit], snapshots: [snapshot], objects });
  expect(pushed.status).toBe(200);
  expect(pushed.uploadUrls).toHaveLength(1);

  // Pushed (and presigned) through A, cloned whole through B.
  const cloned = await wire(b, 'POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] });
  expect(cloned.status).toBe(200);
  for (const o of objects) {
    const got = cloned.body.objects.find((x: { object_id: string }) => x.object_id === o.object_id);
    expect(Buffer.from(got.content).equals(o.content)).toBe(true);
  }
  // Deleted through B: A answers the never-existed 404 as soon as NOTIFY reaches it.
  expect((await b.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  await eventually(async () => (await a.request('GET', `${remote}/refs`)).status === 404, 5_000);
  const refs = await a.request('GET', `${remote}/refs`);
  expect(await refs.text()).toBe(REPO_404);
  expect((await a.request('GET', `/o/${objects[0]!.object_id}`)).status).toBe(404);
});

test('the bucket down: transfers that need it are 503 with Retry-After, never a 500 or a hang; back up, they work', async () => {
  // A server of its own: stopping the shared one would fail every other file's S3 tests.
  let s3: S3TestServer | undefined = await startS3TestServer('musehub-outage');
  try {
    const gw = await serve({ ...s3.env, MUSEHUB_S3_PREFIX: 'outage/', MUSEHUB_S3_TIMEOUT_MS: '2000' });
    const repo = await createRepo(gw, token, { name: 'outage', visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const { commit, snapshot, objects } = history();
    expect((await pushLikeMuse(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(
      200,
    );
    await s3.stop();

    const started = Date.now();
    const expect503 = async (res: { status: number; headers: Headers }, what: string) => {
      expect(res.status, what).toBe(503);
      expect(res.headers.get('retry-after'), what).toBe('5');
    };
    const clone = await wire(gw, 'POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] });
    await expect503(clone, 'clone');
    expect(clone.body.code).toBe('storage_unavailable');
    await expect503(await gw.request('GET', `/o/${objects[0]!.object_id}`), '/o/');
    const next = history();
    const small = next.objects.find((o) => o.content.length < 1000)!;
    await expect503(await wire(gw, 'POST', `${remote}/push/objects`, { objects: [small] }, { token }), 'push/objects');
    // A push naming an upload it must verify from the bucket.
    const big = next.objects.find((o) => o.content.length > 1000)!;
    const presigned = await presignPut(gw, remote, token, [big.object_id]);
    expect(presigned.status).toBe(200);
    await expect503(
      await wire(
        gw,
        'POST',
        `${remote}/push`,
        {
          bundle: { commits: [next.commit], snapshots: [next.snapshot], objects: [] },
          branch: 'main',
          force: false,
        },
        { token },
      ),
      'push',
    );
    // What needs only the database still answers.
    expect((await gw.request('GET', `${remote}/refs`)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(30_000);

    await s3.start();
    // Hung rather than down: no answer within MUSEHUB_S3_TIMEOUT_MS (and the SDK's retries) is a 503 too.
    const thaw = await s3.freeze();
    try {
      await expect503(await gw.request('GET', `/o/${objects[0]!.object_id}`), '/o/ of a hung store');
    } finally {
      thaw();
    }
    const again = await wire(gw, 'POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] });
    expect(again.status).toBe(200);
    expect(again.body.objects).toHaveLength(objects.length);
    await s3.close();
    s3 = undefined;
  } finally {
    await s3?.close();
  }
  // It starts Swift twice on its own: up to twice Swift's start-up wait on a busy machine.
}, 600_000);
