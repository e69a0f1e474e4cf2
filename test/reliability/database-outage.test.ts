import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { openOrm } from '../../src/database.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { requireOwnership, softDeleteRepo } from '../../src/repos/index.ts';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { eventually } from '../helpers/process.ts';

/**
 * PostgreSQL goes away under load and comes back: the gateway answers 503 with Retry-After
 * meanwhile (never 500, never a crash), recovers without a restart, listens again, and its
 * caches start from empty. Its own PostgreSQL, so the rest of the suite is not disturbed.
 */
let dir: string;
let pg: EmbeddedPostgres;
let gw: TestGateway;
let token: string;
let userId: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-outage-'));
  await fs.chmod(dir, 0o755);
  pg = await startEmbeddedPostgres({ dir: path.join(dir, 'db') });
  // Ten-minute caches: only the LISTEN channel can explain a prompt eviction after recovery.
  // LOG_LEVEL error: should a request ever answer 500 here, its cause is in the test output.
  gw = await startTestGateway({ DATABASE_URL: pg.url, MUSEHUB_REPO_CACHE_TTL_MS: '600000', LOG_LEVEL: 'error' });
  ({ token, userId } = await gw.user('alice'));
});
afterAll(async () => {
  await gw?.close();
  await pg?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('database down: 503 with Retry-After on every path, no 5xx otherwise; back: recovers, listens, caches again', async () => {
  const repo = await createRepo(gw, token, { name: 'survivor', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const { snapshot, objects } = makeSnapshot({ 'a.txt': 'before the outage' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  expect((await pushAll(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(200);

  const requests = [
    () => gw.request('GET', `${remote}/refs`, { headers: { accept: 'application/json' } }),
    () => gw.request('GET', `/api/v1/repos/${repo.repoId}`, { token }),
    () => gw.request('GET', '/api/v1/repos', { token }),
    () => gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token, json: { title: 'during' } }),
    () =>
      fetch(`${gw.url}${remote}/fetch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ want: [commit.commit_id], have: [] }),
      }),
    () => gw.request('GET', '/health'),
  ];
  const seen: { status: number; retryAfter: string | null; detail?: string }[] = [];
  let load = true;
  const loader = (async () => {
    while (load) {
      for (const r of requests) {
        const res = await r();
        const text = await res.text();
        seen.push({
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          detail: res.status >= 400 ? JSON.parse(text).detail : undefined,
        });
      }
    }
  })();

  await eventually(async () => seen.length > 20); // load is flowing
  const port = pg.port;
  await pg.stop();
  const down = seen.length;
  await eventually(async () => seen.slice(down).filter((s) => s.status === 503).length >= 12, 20_000, 20);

  const restarted = performance.now();
  pg = await startEmbeddedPostgres({ dir: path.join(dir, 'db'), port });
  const up = seen.length;
  await eventually(
    async () => {
      const res = await gw.request('GET', `/api/v1/repos/${repo.repoId}`, { token });
      return res.status === 200;
    },
    30_000,
    20,
  );
  const recoveredMs = performance.now() - restarted;
  await eventually(async () => gw.listener.stats.reconnects >= 1, 30_000, 20);
  load = false;
  await loader;
  console.log(
    `outage: ${seen.length - down} requests after the stop, ${seen.filter((s) => s.status === 503).length} answered 503; recovered ${recoveredMs.toFixed(0)} ms after PostgreSQL was back`,
  );

  // Never a 5xx other than 503, and every 503 says when to retry and why.
  expect(seen.filter((s) => s.status >= 500 && s.status !== 503)).toEqual([]);
  for (const s of seen.filter((x) => x.status === 503)) {
    expect(s.retryAfter).toBe('5'); // as the README promises
    expect(s.detail).toMatch(/database/);
  }
  expect(seen.slice(down, up).some((s) => s.status === 503)).toBe(true);

  // Caches work again and are coherent: a delete by another process reaches this one through
  // the re-established LISTEN session (the TTL is ten minutes).
  expect((await gw.request('GET', `${remote}/refs`)).status).toBe(200);
  const other = await openOrm(pg.url, 2);
  try {
    const alice = { userId, username: 'alice' };
    const em = other.em.fork();
    await softDeleteRepo(em, undefined, await requireOwnership(em, alice, { repo_id: repo.repoId }, 'delete'));
  } finally {
    await other.close();
  }
  await eventually(async () => (await gw.request('GET', `${remote}/refs`)).status === 404, 5_000, 5);
  await gw.expectIntegrity();
});
