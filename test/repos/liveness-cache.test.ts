import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPushedRepo, createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeObject, makeSnapshot, wire } from '../helpers/muse.ts';

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway();
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());

test('concurrent misses for one name share a single query', async () => {
  const repo = await createRepo(gw, token, { name: 'coalesced', visibility: 'public' });
  const before = gw.cache.stats.misses;
  const found = await Promise.all(Array.from({ length: 20 }, () => gw.cache.resolve('alice', repo.slug)));
  expect(found.every((r) => r?.repoId === repo.repoId)).toBe(true);
  expect(gw.cache.stats.misses - before).toBe(1);
});

test('regression: an eviction while a load is in flight does not fail the lookup (lru-cache aborts the fetch)', async () => {
  const repo = await createRepo(gw, token, { name: 'evicted mid load', visibility: 'public' });
  const pending = gw.cache.resolve('alice', repo.slug);
  gw.cache.evictName('alice', repo.slug);
  gw.cache.evictRepo(repo.repoId);
  expect((await pending)?.repoId).toBe(repo.repoId);
  const refs = gw.cache.refs(repo.repoId);
  gw.cache.evictRepo(repo.repoId);
  expect(await refs).toEqual({ defaultBranch: 'main', heads: {} });
});

test('a repo deleted behind the caches (no notification): every transport call they let through is the repo 404', async () => {
  const { repo, remote, head } = await createPushedRepo(gw, token, 'stale cache');
  // Only the liveness entry is warm: refs' branch-heads cache is not, so refs must ask the
  // database and find the repo gone (a warm refs entry is evicted by the delete's NOTIFY).
  expect((await gw.cache.resolve('alice', repo.slug))?.repoId).toBe(repo.repoId);
  const deleteBehindTheCache = (deleted: boolean) =>
    sql(
      gw.databaseUrl,
      deleted
        ? 'UPDATE musehub_repos SET deleted_at = now(), deletion_id = gen_random_uuid() WHERE repo_id = $1'
        : 'UPDATE musehub_repos SET deleted_at = NULL, deletion_id = NULL WHERE repo_id = $1',
      [repo.repoId],
    );
  await deleteBehindTheCache(true);
  try {
    // The precondition: this process's cache still says the repo is live.
    expect((await gw.cache.resolve('alice', repo.slug))?.repoId).toBe(repo.repoId);
    const refs = await wire(gw, 'GET', `${remote}/refs`, undefined, { token });
    expect(refs.status, 'refs').toBe(404);
    expect(refs.body.code, 'refs').toBe('repo_not_found');
    const late = makeSnapshot({ 'late.txt': 'after the delete' });
    const lateCommit = makeCommit({ snapshotId: late.snapshot.snapshot_id, parent: head });
    for (const [path, body] of [
      ['presign', { object_ids: ['a'.repeat(64)], direction: 'put' }],
      ['presign', { object_ids: ['a'.repeat(64)], direction: 'get' }],
      [
        'push',
        {
          bundle: { commits: [lateCommit], snapshots: [late.snapshot], objects: late.objects },
          branch: 'main',
          force: false,
        },
      ],
      ['filter-objects', { object_ids: ['a'.repeat(64)] }],
      ['negotiate', { want: [head], have: [head] }],
      ['fetch', { want: [head], have: [] }],
      ['fetch', { want: [head], have: [head] }],
      ['push/objects', { objects: [makeObject('late')] }],
    ] as const) {
      const res = await wire(gw, 'POST', `${remote}/${path}`, body, { token });
      expect(res.status, path).toBe(404);
      expect(res.body.code, path).toBe('repo_not_found');
    }
  } finally {
    await deleteBehindTheCache(false);
  }
});

test('a cached repo and a cached "no such repo" expire together: waiting cannot tell a private repo from a missing one', async () => {
  // The oracle this closes: "not found" used to live 1 s and a repo 5 s, so a stranger who asked
  // twice 2.5 s apart could count cache misses (or time the answers) and learn the repo exists.
  const priv = await createRepo(gw, token, { name: 'hidden by ttl' });
  const missesOf = async (slug: string) => {
    const before = gw.cache.stats.misses;
    await gw.cache.resolve('alice', slug);
    return gw.cache.stats.misses - before;
  };
  expect(await missesOf(priv.slug)).toBe(1);
  expect(await missesOf('never-was-here')).toBe(1);
  // Both primed within a millisecond; poll both until each misses again (its entry expired).
  const expiredAt: Record<string, number> = {};
  const deadline = Date.now() + 30_000;
  for (let round = 0; Object.keys(expiredAt).length < 2 && Date.now() < deadline; round++) {
    for (const slug of [priv.slug, 'never-was-here']) {
      if (expiredAt[slug] === undefined && (await missesOf(slug))) expiredAt[slug] = round;
    }
    await new Promise((r) => setTimeout(r, 50)); // the polling interval, not a synchronisation
  }
  expect(Object.keys(expiredAt)).toHaveLength(2);
  expect(Math.abs(expiredAt[priv.slug]! - expiredAt['never-was-here']!)).toBeLessThanOrEqual(1);
});
