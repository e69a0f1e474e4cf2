import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

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
