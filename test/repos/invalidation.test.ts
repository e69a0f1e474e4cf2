import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wirePackr } from '../helpers/muse.ts';
import { eventually, exited, startServe } from '../helpers/process.ts';

/**
 * Two gateway processes on one database. B caches repo liveness for ten minutes, so only
 * the NOTIFY sent by A's delete can explain B answering 404 quickly.
 */
let a: TestGateway;
let bUrl: string;
let b: ChildProcess;
let bData: string;
let token: string;

beforeAll(async () => {
  a = await startTestGateway();
  ({ token } = await a.user('alice'));
  bData = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-b-'));
  ({ child: b, url: bUrl } = await startServe({
    DATABASE_URL: a.databaseUrl,
    MUSEHUB_DATA_DIR: bData,
    MUSEHUB_REPO_CACHE_TTL_MS: '600000',
    // One process: the LISTEN-session count below assumes it (test/cli/workers.test.ts covers clusters).
    MUSEHUB_WORKERS: '1',
  }));
});
afterAll(async () => {
  b?.kill('SIGTERM');
  if (b) await exited(b);
  await a?.close();
  await fs.rm(bData, { recursive: true, force: true });
});
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => a.expectIntegrity());

const refsOnB = async (slug: string) =>
  (await fetch(`${bUrl}/alice/${slug}/refs`, { headers: { accept: 'application/x-msgpack' } })).status;

test('a delete through A is seen by B within a bound far below its cache TTL (p50/p99 over 30 trials)', async () => {
  const delays: number[] = [];
  for (let i = 0; i < 30; i++) {
    const repo = await createRepo(a, token, { name: `inval ${i}`, visibility: 'public' });
    // B learns the repo (the create notification cleared any negative entry) and caches it.
    await eventually(async () => (await refsOnB(repo.slug)) === 200);
    expect(await refsOnB(repo.slug)).toBe(200);
    const res = await a.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token });
    expect(res.status).toBe(204);
    const t0 = performance.now();
    await eventually(async () => (await refsOnB(repo.slug)) === 404, 5_000, 1);
    delays.push(performance.now() - t0);
  }
  delays.sort((x, y) => x - y);
  const p50 = delays[Math.floor(delays.length * 0.5)]!;
  const p99 = delays[Math.min(delays.length - 1, Math.ceil(delays.length * 0.99) - 1)]!;
  console.log(
    `invalidation delay across processes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${delays.at(-1)!.toFixed(1)} ms (n=${delays.length})`,
  );
  expect(p99).toBeLessThan(2_000); // the TTL is 600,000 ms
});

test('creating a repo clears a negative entry in the other process', async () => {
  expect(await refsOnB('appears-later')).toBe(404); // B now caches "no such repo" for ten minutes
  await createRepo(a, token, { name: 'appears later', visibility: 'public' });
  await eventually(async () => (await refsOnB('appears-later')) === 200, 5_000, 5);
});

test('adding and removing a collaborator through A changes what B lets them do (B caches collaborators with the repo)', async () => {
  const repo = await createRepo(a, token, { name: 'shared later' });
  const bea = await a.user('bea');
  const refs = async () =>
    (
      await fetch(`${bUrl}/alice/${repo.slug}/refs`, {
        headers: { accept: 'application/x-msgpack', authorization: `Bearer ${bea.token}` },
      })
    ).status;
  expect(await refs()).toBe(404); // B now caches the repo, without bea, for ten minutes
  const collab = `/api/v1/repos/${repo.repoId}/collaborators/bea`;
  expect((await a.request('PUT', collab, { token, json: { permission: 'read' } })).status).toBe(201);
  await eventually(async () => (await refs()) === 200, 5_000, 5);
  expect((await a.request('DELETE', collab, { token })).status).toBe(204);
  await eventually(async () => (await refs()) === 404, 5_000, 5);
});

test('restore through A makes the repo visible on B again', async () => {
  const repo = await createRepo(a, token, { name: 'comes back', visibility: 'public' });
  await eventually(async () => (await refsOnB(repo.slug)) === 200);
  await a.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token });
  await eventually(async () => (await refsOnB(repo.slug)) === 404, 5_000, 5);
  expect((await a.request('POST', `/api/v1/repos/${repo.repoId}/restore`, { token })).status).toBe(200);
  await eventually(async () => (await refsOnB(repo.slug)) === 200, 5_000, 5);
});

test('a process that loses its LISTEN session stops trusting its cache until it listens again', async () => {
  const repo = await createRepo(a, token, { name: 'lost listener', visibility: 'public' });
  await eventually(async () => (await refsOnB(repo.slug)) === 200);
  // Cut every LISTEN session on this database (A's and B's), then delete while they are down.
  const cut = await sql(
    a.databaseUrl,
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
  );
  expect(cut.length).toBe(2);
  await a.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token });
  await eventually(async () => (await refsOnB(repo.slug)) === 404, 5_000, 5);
  // Both reconnect and listen again.
  await eventually(
    async () => {
      const rows = await sql(
        a.databaseUrl,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
      );
      return rows[0]!.n === 2;
    },
    10_000,
    50,
  );
});

test('a push through A moves the branch head that B serves from its refs cache', async () => {
  const repo = await createRepo(a, token, { name: 'moving head', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const refsB = async () => {
    const res = await fetch(`${bUrl}${remote}/refs`, { headers: { accept: 'application/x-msgpack' } });
    return wirePackr.unpack(Buffer.from(await res.arrayBuffer())) as { branch_heads: Record<string, string> };
  };
  const first = makeSnapshot({ 'a.txt': 'one' });
  const c1 = makeCommit({ snapshotId: first.snapshot.snapshot_id });
  expect(
    (await pushAll(a, remote, token, { commits: [c1], snapshots: [first.snapshot], objects: first.objects })).status,
  ).toBe(200);
  await eventually(async () => (await refsB()).branch_heads.main === c1.commit_id);
  const second = makeSnapshot({ 'a.txt': 'two' });
  const c2 = makeCommit({ snapshotId: second.snapshot.snapshot_id, parent: c1.commit_id });
  expect(
    (await pushAll(a, remote, token, { commits: [c2], snapshots: [second.snapshot], objects: second.objects })).status,
  ).toBe(200);
  await eventually(async () => (await refsB()).branch_heads.main === c2.commit_id, 5_000, 5);
});
