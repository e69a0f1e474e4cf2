import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let gw: TestGateway;
let alice: { token: string; userId: string };
let bob: { token: string; userId: string };

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
});
afterAll(() => gw?.close());

const create = (token: string, json: unknown) => gw.request('POST', '/api/v1/repos', { token, json });

describe('POST /api/v1/repos', () => {
  test('creates a private repo with a slug from the name', async () => {
    const res = await create(alice.token, { name: 'Neo Soul', description: 'grooves' });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toMatchObject({
      owner: 'alice',
      ownerUserId: alice.userId,
      slug: 'neo-soul',
      name: 'Neo Soul',
      description: 'grooves',
      visibility: 'private',
      defaultBranch: 'main',
      forkParentId: null,
      cloneUrl: `${gw.url}/alice/neo-soul`,
    });
    expect(res.headers.get('location')).toBe(`${gw.url}/api/v1/repos/${body.repoId}`);
  });

  test('409 when the owner already has a live repo with that slug', async () => {
    await create(alice.token, { name: 'Dup Name' });
    const res = await create(alice.token, { name: 'dup  name!' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ detail: "you already have a repo named 'dup-name'", code: 'repo_exists' });
  });

  test('two owners may use the same slug', async () => {
    await create(alice.token, { name: 'Shared' });
    expect((await create(bob.token, { name: 'Shared' })).status).toBe(201);
  });

  test('concurrent creates of one slug: exactly one wins, the rest are 409', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => create(alice.token, { name: 'Race' })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });

  test.each([
    [{}, /name/],
    [{ name: '' }, /name/],
    [{ name: '!!!' }, /letter or digit/],
    [{ name: 'x', visibility: 'secret' }, /visibility/],
    [{ name: 'x', defaultBranch: '../etc' }, /not a valid branch name/],
    [{ name: 'x', defaultBranch: 'a b' }, /not a valid branch name/],
  ])('400 with a detail for %o, and nothing is created', async (json, detail) => {
    const before = await (await gw.request('GET', '/api/v1/repos?limit=100', { token: alice.token })).json();
    const res = await create(alice.token, json);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.detail).toMatch(detail);
    expect(body.code).toBeTypeOf('string');
    const after = await (await gw.request('GET', '/api/v1/repos?limit=100', { token: alice.token })).json();
    expect(after.repos.length).toBe(before.repos.length);
  });

  test('malformed JSON is a 400, not a 500', async () => {
    const res = await gw.request('POST', '/api/v1/repos', {
      token: alice.token,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    const raw = await fetch(`${gw.url}/api/v1/repos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(raw.status).toBe(400);
    expect((await raw.json()).detail).toBeTypeOf('string');
  });

  test('an oversized body is 413', async () => {
    const res = await create(alice.token, { name: 'big', description: 'x'.repeat(2 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect((await res.json()).code).toBe('payload_too_large');
  });

  test('anonymous create is 401 with WWW-Authenticate', async () => {
    const res = await gw.request('POST', '/api/v1/repos', { json: { name: 'anon' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('reading repos', () => {
  let priv: { repoId: string };
  let pub: { repoId: string };
  beforeAll(async () => {
    priv = await (await create(alice.token, { name: 'Secret Tapes' })).json();
    pub = await (await create(alice.token, { name: 'Open Jam', visibility: 'public' })).json();
  });

  test('owner reads a private repo; a stranger and anonymous get the same 404 as a missing repo', async () => {
    expect((await gw.request('GET', `/api/v1/repos/${priv.repoId}`, { token: alice.token })).status).toBe(200);
    const missing = await gw.request('GET', '/api/v1/repos/00000000-0000-4000-8000-000000000000', { token: bob.token });
    const stranger = await gw.request('GET', `/api/v1/repos/${priv.repoId}`, { token: bob.token });
    const anonymous = await gw.request('GET', `/api/v1/repos/${priv.repoId}`);
    const notUuid = await gw.request('GET', '/api/v1/repos/not-a-uuid');
    for (const res of [missing, stranger, anonymous, notUuid]) {
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"repo not found","code":"repo_not_found"}');
    }
  });

  test('a public repo is readable anonymously, by id and by owner/slug', async () => {
    expect((await gw.request('GET', `/api/v1/repos/${pub.repoId}`)).status).toBe(200);
    const byName = await gw.request('GET', '/api/v1/users/alice/repos/open-jam');
    expect(byName.status).toBe(200);
    expect((await byName.json()).repoId).toBe(pub.repoId);
    expect((await gw.request('GET', '/api/v1/users/alice/repos/secret-tapes', { token: bob.token })).status).toBe(404);
  });

  test('a collaborator reads a private repo and sees it in their list', async () => {
    await gw
      .em()
      .getConnection()
      .execute(`INSERT INTO musehub_collaborators (repo_id, user_id, permission) VALUES (?, ?, 'read')`, [
        priv.repoId,
        bob.userId,
      ]);
    expect((await gw.request('GET', `/api/v1/repos/${priv.repoId}`, { token: bob.token })).status).toBe(200);
    const mine = await (await gw.request('GET', '/api/v1/repos?limit=100', { token: bob.token })).json();
    expect(mine.repos.map((r: { repoId: string }) => r.repoId)).toContain(priv.repoId);
    const alicesForBob = await (
      await gw.request('GET', '/api/v1/users/alice/repos?limit=100', { token: bob.token })
    ).json();
    expect(alicesForBob.repos.map((r: { repoId: string }) => r.repoId)).toContain(priv.repoId);
  });

  test("a user's repo list hides private repos from strangers", async () => {
    const carol = await gw.user('carol');
    const res = await (await gw.request('GET', '/api/v1/users/alice/repos?limit=100', { token: carol.token })).json();
    expect(res.repos.every((r: { visibility: string }) => r.visibility === 'public')).toBe(true);
    expect(res.repos.map((r: { repoId: string }) => r.repoId)).toContain(pub.repoId);
    const anon = await (await gw.request('GET', '/api/v1/users/alice/repos?limit=100')).json();
    expect(anon.repos.map((r: { repoId: string }) => r.repoId)).not.toContain(priv.repoId);
  });

  test('unknown user is 404', async () => {
    const res = await gw.request('GET', '/api/v1/users/nobody-here/repos');
    expect(res.status).toBe(404);
    expect((await res.json()).code).toBe('user_not_found');
  });
});

describe('cursor pagination', () => {
  test('pages cover every repo exactly once, newest first, with a Link header to the next page', async () => {
    const dave = await gw.user('dave');
    const names = Array.from({ length: 7 }, (_, i) => `Track ${i}`);
    for (const name of names) expect((await create(dave.token, { name })).status).toBe(201);
    const seen: string[] = [];
    let next: string | null = `${gw.url}/api/v1/repos?limit=3`;
    let pages = 0;
    while (next) {
      const res = await fetch(next, { headers: { authorization: `Bearer ${dave.token}` } });
      expect(res.status).toBe(200);
      const body = await res.json();
      seen.push(...body.repos.map((r: { slug: string }) => r.slug));
      const link = res.headers.get('link');
      if (body.nextCursor)
        expect(link).toMatch(/^<http:\/\/127\.0\.0\.1:\d+\/api\/v1\/repos\?limit=3&cursor=[^>]+>; rel="next"$/);
      else expect(link).toBeNull();
      next = link ? /<([^>]+)>/.exec(link)![1]! : null;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(names.map((_, i) => `track-${6 - i}`));
  });

  test('a garbage cursor is 400', async () => {
    const res = await gw.request('GET', '/api/v1/repos?cursor=%%%garbage', { token: alice.token });
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe('invalid_cursor');
  });

  test('limit out of range is 400', async () => {
    const res = await gw.request('GET', '/api/v1/repos?limit=1000', { token: alice.token });
    expect(res.status).toBe(400);
    expect((await res.json()).detail).toMatch(/limit/);
  });
});

describe('service endpoints', () => {
  test('GET /health checks the database', async () => {
    const res = await gw.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', database: 'ok', pid: process.pid });
  });

  test('/openapi.json documents every REST route; /docs serves a page', async () => {
    const doc = await (await gw.request('GET', '/openapi.json')).json();
    expect(doc.openapi).toBe('3.1.0');
    // Every route registered under /api/v1 appears in the document, and nothing else does.
    const registered = new Set(
      gw.app.routes
        .filter((r) => r.path.startsWith('/api/v1/') && r.method !== 'ALL')
        .map((r) => `${r.method.toLowerCase()} ${r.path.slice('/api/v1'.length).replace(/:(\w+)/g, '{$1}')}`),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops as object).map((m) => `${m} ${p}`)),
    );
    expect([...documented].sort()).toEqual([...registered].sort());
    expect(documented.size).toBeGreaterThan(25);
    expect(doc.paths['/repos'].post.requestBody).toBeDefined();
    const docs = await gw.request('GET', '/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('/openapi.json');
  });

  test('every response carries a request id; a sane incoming one is kept', async () => {
    const res = await gw.request('GET', '/health', { headers: { 'x-request-id': 'ci-run-42' } });
    expect(res.headers.get('x-request-id')).toBe('ci-run-42');
    const other = await gw.request('GET', '/health', { headers: { 'x-request-id': 'bad id\twith tabs' } });
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('unknown route is a JSON 404', async () => {
    const res = await gw.request('GET', '/api/v1/nope');
    expect(res.status).toBe(404);
    expect((await res.json()).code).toBe('route_not_found');
  });
});
