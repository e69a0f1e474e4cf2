import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { addCollaborator, createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let owner: U;
let reader: U;
let writer: U;
let stranger: U;
let repo: RepoBody;

beforeAll(async () => {
  gw = await startTestGateway();
  owner = await gw.user('olive');
  reader = await gw.user('rita');
  writer = await gw.user('walt');
  stranger = await gw.user('sam');
  repo = await createRepo(gw, owner.token, { name: 'Band Book' });
  await addCollaborator(gw, owner.token, repo.repoId, 'rita', 'read');
  await addCollaborator(gw, owner.token, repo.repoId, 'walt', 'write');
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const issues = (sub = '') => `/api/v1/repos/${repo.repoId}/issues${sub}`;

describe('issues', () => {
  test('open, read, list, close; numbers are per repo and sequential', async () => {
    const a = await gw.request('POST', issues(), {
      token: reader.token,
      json: { title: 'Bridge is too long', body: 'bars 33-48' },
    });
    expect(a.status).toBe(201);
    const first = await a.json();
    expect(first).toMatchObject({
      title: 'Bridge is too long',
      state: 'open',
      author: 'rita',
      labels: [],
      closedAt: null,
    });
    const second = await (await gw.request('POST', issues(), { token: owner.token, json: { title: 'Intro' } })).json();
    expect(second.number).toBe(first.number + 1);

    const got = await gw.request('GET', issues(`/${first.number}`), { token: reader.token });
    expect(await got.json()).toEqual(first);

    const closed = await gw.request('PATCH', issues(`/${first.number}`), {
      token: reader.token,
      json: { state: 'closed' },
    });
    expect(closed.status).toBe(200);
    expect((await closed.json()).closedAt).not.toBeNull();
    const open = await (await gw.request('GET', issues(), { token: owner.token })).json();
    expect(open.issues.map((i: { number: number }) => i.number)).not.toContain(first.number);
    const all = await (await gw.request('GET', issues('?state=all'), { token: owner.token })).json();
    expect(all.issues.map((i: { number: number }) => i.number)).toEqual(
      expect.arrayContaining([first.number, second.number]),
    );
  });

  test('concurrent opens get distinct consecutive numbers', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        gw.request('POST', issues(), { token: writer.token, json: { title: `t${i}` } }),
      ),
    );
    const numbers = (await Promise.all(results.map((r) => r.json()))).map((b) => b.number).sort((x, y) => x - y);
    expect(new Set(numbers).size).toBe(10);
    expect(numbers.at(-1) - numbers[0]).toBe(9);
  });

  test('a reader may not edit someone else’s issue (403); a writer may', async () => {
    const mine = await (
      await gw.request('POST', issues(), { token: owner.token, json: { title: 'Owner issue' } })
    ).json();
    const denied = await gw.request('PATCH', issues(`/${mine.number}`), {
      token: reader.token,
      json: { title: 'hijack' },
    });
    expect(denied.status).toBe(403);
    expect((await denied.json()).code).toBe('insufficient_permission');
    const allowed = await gw.request('PATCH', issues(`/${mine.number}`), {
      token: writer.token,
      json: { title: 'Retitled' },
    });
    expect((await allowed.json()).title).toBe('Retitled');
  });

  test('labels: writers add and remove, readers get 403', async () => {
    const issue = await (
      await gw.request('POST', issues(), { token: writer.token, json: { title: 'Mix', labels: ['audio'] } })
    ).json();
    expect(issue.labels).toEqual(['audio']);
    const add = await gw.request('POST', issues(`/${issue.number}/labels`), {
      token: writer.token,
      json: { labels: ['bug', 'audio'] },
    });
    expect((await add.json()).labels).toEqual(['audio', 'bug']);
    const denied = await gw.request('POST', issues(`/${issue.number}/labels`), {
      token: reader.token,
      json: { labels: ['x'] },
    });
    expect(denied.status).toBe(403);
    const readerLabelsOnCreate = await gw.request('POST', issues(), {
      token: reader.token,
      json: { title: 'x', labels: ['y'] },
    });
    expect(readerLabelsOnCreate.status).toBe(403);
    const removed = await gw.request('DELETE', issues(`/${issue.number}/labels/bug`), { token: writer.token });
    expect((await removed.json()).labels).toEqual(['audio']);
    expect((await gw.request('DELETE', issues(`/${issue.number}/labels/bug`), { token: writer.token })).status).toBe(
      404,
    );
  });

  test.each([
    [{}, /title/],
    [{ title: '   ' }, /title/],
    [{ title: 'x', labels: ['a\u0000b'] }, /label/],
    [{ title: 'x'.repeat(300) }, /title/],
  ])('400 with a detail for %o', async (json, detail) => {
    const res = await gw.request('POST', issues(), { token: writer.token, json });
    expect(res.status).toBe(400);
    expect((await res.json()).detail).toMatch(detail);
  });

  test('unknown issue number is 404; a non-numeric one is 400', async () => {
    expect((await gw.request('GET', issues('/99999'), { token: owner.token })).status).toBe(404);
    expect((await gw.request('GET', issues('/abc'), { token: owner.token })).status).toBe(400);
  });
});

describe('issue comments', () => {
  test('add, list oldest first, delete by author or admin; deleted comments leave lists', async () => {
    const issue = await (await gw.request('POST', issues(), { token: owner.token, json: { title: 'Talk' } })).json();
    const path = (s = '') => issues(`/${issue.number}/comments${s}`);
    const c1 = await (await gw.request('POST', path(), { token: reader.token, json: { body: 'first' } })).json();
    const c2 = await (await gw.request('POST', path(), { token: writer.token, json: { body: 'second' } })).json();
    const c3 = await (await gw.request('POST', path(), { token: reader.token, json: { body: 'third' } })).json();
    expect(c1).toMatchObject({ author: 'rita', body: 'first' });

    const list = await (await gw.request('GET', path(), { token: owner.token })).json();
    expect(list.comments.map((c: { body: string }) => c.body)).toEqual(['first', 'second', 'third']);

    // A writer is not an admin: may not delete someone else's comment.
    expect((await gw.request('DELETE', path(`/${c1.commentId}`), { token: writer.token })).status).toBe(403);
    expect((await gw.request('DELETE', path(`/${c1.commentId}`), { token: reader.token })).status).toBe(204);
    expect((await gw.request('DELETE', path(`/${c2.commentId}`), { token: owner.token })).status).toBe(204);
    const after = await (await gw.request('GET', path(), { token: owner.token })).json();
    expect(after.comments.map((c: { commentId: string }) => c.commentId)).toEqual([c3.commentId]);
    // Deleting again: it is gone.
    expect((await gw.request('DELETE', path(`/${c1.commentId}`), { token: reader.token })).status).toBe(404);
  });

  test('anonymous may read a public repo’s comments but not write them', async () => {
    const pub = await createRepo(gw, owner.token, { visibility: 'public' });
    const issue = await (
      await gw.request('POST', `/api/v1/repos/${pub.repoId}/issues`, { token: stranger.token, json: { title: 'hi' } })
    ).json();
    const path = `/api/v1/repos/${pub.repoId}/issues/${issue.number}/comments`;
    expect((await gw.request('GET', path)).status).toBe(200);
    const anon = await gw.request('POST', path, { json: { body: 'x' } });
    expect(anon.status).toBe(401);
    expect((await gw.request('POST', path, { token: stranger.token, json: { body: 'x' } })).status).toBe(201);
  });
});

test('a private repo is the same 404 to a stranger on every issue route', async () => {
  const issue = await (await gw.request('POST', issues(), { token: owner.token, json: { title: 'secret' } })).json();
  const comment = await (
    await gw.request('POST', issues(`/${issue.number}/comments`), { token: owner.token, json: { body: 'c' } })
  ).json();
  const n = issue.number;
  const calls: [string, string, unknown?][] = [
    ['GET', issues()],
    ['POST', issues(), { title: 'x' }],
    ['GET', issues(`/${n}`)],
    ['PATCH', issues(`/${n}`), { title: 'x' }],
    ['POST', issues(`/${n}/labels`), { labels: ['x'] }],
    ['DELETE', issues(`/${n}/labels/x`)],
    ['GET', issues(`/${n}/comments`)],
    ['POST', issues(`/${n}/comments`), { body: 'x' }],
    ['DELETE', issues(`/${n}/comments/${comment.commentId}`)],
  ];
  for (const [method, path, json] of calls) {
    await expectRepo404(await gw.request(method, path, { token: stranger.token, json }));
    await expectRepo404(await gw.request(method, path, { json }));
  }
});
