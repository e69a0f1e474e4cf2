import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { addCollaborator, createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let owner: U;
let reader: U;
let stranger: U;
let repo: RepoBody;

beforeAll(async () => {
  gw = await startTestGateway();
  owner = await gw.user('olive');
  reader = await gw.user('rita');
  stranger = await gw.user('sam');
  repo = await createRepo(gw, owner.token);
  await addCollaborator(gw, owner.token, repo.repoId, 'rita', 'read');
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const proposals = (sub = '') => `/api/v1/repos/${repo.repoId}/proposals${sub}`;

test('open a proposal into the default branch, list, read, comment', async () => {
  const res = await gw.request('POST', proposals(), {
    token: reader.token,
    json: { title: 'New chorus', fromBranch: 'chorus-v2' },
  });
  expect(res.status).toBe(201);
  const p = await res.json();
  expect(p).toMatchObject({
    number: 1,
    fromBranch: 'chorus-v2',
    toBranch: 'main',
    state: 'open',
    author: 'rita',
    mergedAt: null,
  });
  expect((await (await gw.request('GET', proposals(), { token: owner.token })).json()).proposals).toEqual([p]);
  expect(await (await gw.request('GET', proposals('/1'), { token: reader.token })).json()).toEqual(p);

  const comment = await gw.request('POST', proposals('/1/comments'), { token: owner.token, json: { body: 'nice' } });
  expect(comment.status).toBe(201);
  const list = await (await gw.request('GET', proposals('/1/comments'), { token: reader.token })).json();
  expect(list.comments.map((c: { body: string }) => c.body)).toEqual(['nice']);
  const del = await gw.request('DELETE', proposals(`/1/comments/${(await comment.json()).commentId}`), {
    token: owner.token,
  });
  expect(del.status).toBe(204);
  expect((await (await gw.request('GET', proposals('/1/comments'), { token: reader.token })).json()).comments).toEqual(
    [],
  );
});

test('merging needs write permission; the author may close; merged is final', async () => {
  const p = await (
    await gw.request('POST', proposals(), { token: reader.token, json: { title: 'x', fromBranch: 'feat/x' } })
  ).json();
  const denied = await gw.request('PATCH', proposals(`/${p.number}`), {
    token: reader.token,
    json: { state: 'merged' },
  });
  expect(denied.status).toBe(403);
  const merged = await gw.request('PATCH', proposals(`/${p.number}`), {
    token: owner.token,
    json: { state: 'merged' },
  });
  expect(await merged.json()).toMatchObject({ state: 'merged', mergedAt: expect.any(String) });
  const reopen = await gw.request('PATCH', proposals(`/${p.number}`), { token: owner.token, json: { state: 'open' } });
  expect(reopen.status).toBe(409);

  const q = await (
    await gw.request('POST', proposals(), { token: reader.token, json: { title: 'y', fromBranch: 'feat/y' } })
  ).json();
  const closed = await gw.request('PATCH', proposals(`/${q.number}`), {
    token: reader.token,
    json: { state: 'closed' },
  });
  expect((await closed.json()).state).toBe('closed');
  const byState = await (await gw.request('GET', proposals('?state=merged'), { token: owner.token })).json();
  expect(byState.proposals.map((x: { number: number }) => x.number)).toEqual([p.number]);
});

test.each([
  [{ fromBranch: 'a' }, /title/],
  [{ title: 'x' }, /fromBranch/],
  [{ title: 'x', fromBranch: '../../etc/passwd' }, /not a valid branch name/],
  [{ title: 'x', fromBranch: 'main' }, /must differ/],
  [{ title: 'x', fromBranch: 'a', toBranch: 'b c' }, /not a valid branch name/],
])('400 with a detail for %o', async (json, detail) => {
  const res = await gw.request('POST', proposals(), { token: owner.token, json });
  expect(res.status).toBe(400);
  expect((await res.json()).detail).toMatch(detail);
});

test('a private repo is the same 404 to a stranger on every proposal route', async () => {
  const p = await (
    await gw.request('POST', proposals(), { token: owner.token, json: { title: 's', fromBranch: 'dev' } })
  ).json();
  const c = await (
    await gw.request('POST', proposals(`/${p.number}/comments`), { token: owner.token, json: { body: 'c' } })
  ).json();
  const calls: [string, string, unknown?][] = [
    ['GET', proposals()],
    ['POST', proposals(), { title: 'x', fromBranch: 'a' }],
    ['GET', proposals(`/${p.number}`)],
    ['PATCH', proposals(`/${p.number}`), { title: 'x' }],
    ['GET', proposals(`/${p.number}/comments`)],
    ['POST', proposals(`/${p.number}/comments`), { body: 'x' }],
    ['DELETE', proposals(`/${p.number}/comments/${c.commentId}`)],
  ];
  for (const [method, path, json] of calls) {
    await expectRepo404(await gw.request(method, path, { token: stranger.token, json }));
  }
});
