import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { addCollaborator, createRepo, REPO_404, type RepoBody } from './helpers/builders.ts';
import { sql } from './helpers/db.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wirePackr } from './helpers/muse.ts';
import { signIn, type WebSession, withoutNonces } from './helpers/web.ts';

/**
 * Generated from the routes Hono has registered, so a new route cannot escape it: for every
 * route that names a repo, a stranger to a private repo and anyone asking about a deleted
 * repo get exactly the 404 body of a repo that never existed. (The owner may still delete
 * again, idempotently, restore and purge.) Page routes (their handlers are named renderPage and
 * submitForm) are asked as a signed-in browser asks, and must answer exactly what the same
 * browser gets for a repo that never existed, per-request nonces aside.
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let carol: U;
let priv: RepoBody;
let deleted: RepoBody;
const web = new Map<string, WebSession>();
/** The private and the deleted repo as they were named before their rename. */
const oldNames = new Map<string, RepoBody>();
const renamed = (r: RepoBody) => oldNames.get(r.repoId)!;

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  carol = await gw.user('carol');
  priv = await createRepo(gw, alice.token, { name: 'private one' });
  deleted = await createRepo(gw, alice.token, { name: 'deleted one', visibility: 'public' });
  await addCollaborator(gw, alice.token, deleted.repoId, 'bob', 'write');
  const late = makeSnapshot({ 'late.txt': 'pushed by the sweep' });
  const lateCommit = makeCommit({ snapshotId: late.snapshot.snapshot_id });
  const anyObject = 'a'.repeat(64);
  wireBodies = {
    'filter-objects': { object_ids: [anyObject] },
    negotiate: { want: [lateCommit.commit_id], have: [] },
    fetch: { want: [lateCommit.commit_id], have: [] },
    presign: { object_ids: [anyObject], direction: 'put' },
    'push/objects': { objects: late.objects },
    push: {
      bundle: { commits: [lateCommit], snapshots: [late.snapshot], objects: late.objects },
      branch: 'sweep',
      force: false,
    },
  };
  for (const repo of [priv, deleted]) {
    const api = `/api/v1/repos/${repo.repoId}`;
    await gw.request('POST', `${api}/issues`, { token: alice.token, json: { title: 'i' } });
    await gw.request('POST', `${api}/issues/1/comments`, { token: alice.token, json: { body: 'c' } });
    await gw.request('POST', `${api}/proposals`, { token: alice.token, json: { title: 'p', fromBranch: 'dev' } });
    const { snapshot, objects } = makeSnapshot({ 'f.txt': `bytes of ${repo.slug}` });
    await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
      commits: [makeCommit({ snapshotId: snapshot.snapshot_id })],
      snapshots: [snapshot],
      objects,
    });
  }
  // Both renamed first: their old names must answer exactly as their current ones (issue 27).
  for (const repo of [priv, deleted]) {
    const res = await gw.request('PATCH', `/api/v1/repos/${repo.repoId}`, {
      token: alice.token,
      json: { name: `${repo.slug} now` },
    });
    expect(res.status).toBe(200);
    oldNames.set(repo.repoId, { ...repo });
    repo.slug = (await res.json()).slug;
  }
  expect((await gw.request('DELETE', `/api/v1/repos/${deleted.repoId}`, { token: alice.token })).status).toBe(204);
  for (const u of [alice, bob, carol]) web.set(u.token, await signIn(gw, u.token));
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

/**
 * A valid body for each wire route (each one passes its schema and would do its work on a live
 * repo: the pushed commit of the repo, a new object), so what answers is the repo check and
 * nothing earlier — including the route's own re-check when a stale cache lets it through.
 */
let wireBodies: Record<string, unknown>;
function wireBodyFor(path: string): unknown {
  const verb = path.split('/').slice(3).join('/'); // /owner/slug/<verb>
  if (!(verb in wireBodies)) throw new Error(`the sweep has no valid body for ${path}: add one`);
  return wireBodies[verb];
}

/** A body each route accepts, so the answer is decided by the repo, not by validation. */
function bodyFor(method: string, path: string): { json?: unknown; msgpack?: unknown } {
  if (method === 'GET' || method === 'DELETE') return {};
  if (!path.startsWith('/api/')) return { msgpack: wireBodyFor(path) };
  if (path.endsWith('/issues') || path.endsWith('/issues/:number')) return { json: { title: 'x' } };
  if (path.endsWith('/labels')) return { json: { labels: ['x'] } };
  if (path.endsWith('/comments')) return { json: { body: 'x' } };
  if (path.endsWith('/proposals')) return { json: { title: 'x', fromBranch: 'dev' } };
  if (path.endsWith('/proposals/:number')) return { json: { title: 'x' } };
  if (path.includes('/collaborators/')) return { json: { permission: 'read' } };
  if (path.endsWith('/webhooks')) return { json: { url: 'http://8.8.8.8/', events: ['push'], active: false } };
  return { json: {} };
}

function fill(path: string, repo: { repoId: string; owner: string; slug: string }) {
  return path
    .replace(':repo_id', repo.repoId)
    .replace(':owner', repo.owner)
    .replace(':username/repos/:slug', `${repo.owner}/repos/${repo.slug}`)
    .replace(':username/:slug', `${repo.owner}/${repo.slug}`)
    .replace(':slug', repo.slug)
    .replace(':number', '1')
    .replace(':comment_id', randomUUID())
    .replace(':webhook_id', randomUUID())
    .replace(':label', 'x')
    .replace(':username', 'bob');
}

const PAGE_HANDLERS = new Set(['renderPage', 'submitForm']);
const pageRoutes = () =>
  new Set(gw.app.routes.filter((r) => PAGE_HANDLERS.has(r.handler.name)).map((r) => `${r.method} ${r.path}`));

/** A page as the user's browser asks for it: their session cookie, their form token, a typed confirmation. */
async function callPage(method: string, path: string, token: string | undefined) {
  const session = token ? web.get(token) : undefined;
  const headers: Record<string, string> = { accept: 'text/html' };
  if (session) headers.cookie = session.cookie;
  let body: string | undefined;
  if (method === 'POST') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    const confirm = /^\/([^/]+\/[^/]+)\//.exec(path)?.[1] ?? '';
    body = new URLSearchParams({ csrf: session?.csrf ?? '', confirm }).toString();
  }
  const res = await fetch(`${gw.url}${path}`, { method, headers, body, redirect: 'manual' });
  return { status: res.status, text: withoutNonces(await res.text()) };
}

async function call(method: string, path: string, token: string | undefined, asPage = false) {
  if (asPage) return callPage(method, path, token);
  const { json, msgpack } = bodyFor(method, path.replace(/[0-9a-f-]{36}/g, ''));
  const headers: Record<string, string> = { accept: 'application/x-msgpack, application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | Uint8Array | undefined;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (msgpack !== undefined) {
    headers['content-type'] = 'application/x-msgpack';
    body = new Uint8Array(wirePackr.pack(msgpack));
  }
  const res = await fetch(`${gw.url}${path}`, { method, headers, body });
  return { status: res.status, text: await res.text() };
}

const repoRoutes = () =>
  gw.app.routes
    .filter(
      (r) =>
        r.method !== 'ALL' &&
        (r.path.includes(':repo_id') || r.path.includes(':slug')) &&
        !r.path.startsWith('/presigned/'),
    )
    .map((r) => [r.method, r.path] as const)
    .filter(([m, p], i, all) => all.findIndex(([m2, p2]) => m2 === m && p2 === p) === i);

test('the sweep covers every repo route (REST and wire protocol)', () => {
  const routes = repoRoutes();
  expect(routes.length).toBeGreaterThan(30);
  expect(routes).toContainEqual(['GET', '/:owner/:slug/refs']);
  expect(routes).toContainEqual(['POST', '/:owner/:slug/fetch']);
  expect(routes).toContainEqual(['DELETE', '/api/v1/repos/:repo_id']);
  expect(routes).toContainEqual(['POST', '/api/v1/user/deleted-repos/:username/:slug/purge']);
});

test('every repo route: private-to-a-stranger and deleted-for-anyone are the 404 of a repo that never existed', async () => {
  const failures: string[] = [];
  const pages = pageRoutes();
  for (const [method, path] of repoRoutes()) {
    if (pages.has(`${method} ${path}`)) {
      failures.push(...(await sweepPage(method, path)));
      continue;
    }
    const baseline = await call(method, fill(path, never), alice.token);
    // An anonymous caller gets, for a private or deleted repo, exactly what they get for one that
    // never existed: the repo 404, or a 401 (sign in first) that the route gives before it looks
    // at any repo. A 401 for a deleted repo where a missing one is a 404 would tell them apart.
    const anonymousBaseline = await call(method, fill(path, never), undefined);
    if (anonymousBaseline.status !== 401 && anonymousBaseline.text !== REPO_404)
      failures.push(`${method} ${path} [missing, anonymous] → ${anonymousBaseline.status}`);
    const cases: [string, Awaited<ReturnType<typeof call>>, Awaited<ReturnType<typeof call>>][] = [
      ['missing', baseline, baseline],
      ['private, stranger', await call(method, fill(path, asRepo(priv)), carol.token), baseline],
      ['private, anonymous', await call(method, fill(path, asRepo(priv)), undefined), anonymousBaseline],
      ['deleted, collaborator', await call(method, fill(path, asRepo(deleted)), bob.token), baseline],
      ['deleted, anonymous', await call(method, fill(path, asRepo(deleted)), undefined), anonymousBaseline],
    ];
    if (path.includes(':slug')) {
      cases.push(
        [
          'private by its old name, stranger',
          await call(method, fill(path, asRepo(renamed(priv))), carol.token),
          baseline,
        ],
        [
          'deleted by its old name, collaborator',
          await call(method, fill(path, asRepo(renamed(deleted))), bob.token),
          baseline,
        ],
        [
          'deleted by its old name, anonymous',
          await call(method, fill(path, asRepo(renamed(deleted))), undefined),
          anonymousBaseline,
        ],
      );
    }
    // The owner's own deleted repo: delete again, restore and purge it (their own tests cover those).
    const ownerMayStill = (method === 'DELETE' && path === '/api/v1/repos/:repo_id') || /\/(restore|purge)$/.test(path);
    if (!ownerMayStill) {
      cases.push(['deleted, owner', await call(method, fill(path, asRepo(deleted)), alice.token), baseline]);
      if (path.includes(':slug'))
        cases.push([
          'deleted by its old name, owner',
          await call(method, fill(path, asRepo(renamed(deleted))), alice.token),
          baseline,
        ]);
    }
    if (baseline.status !== 404 || baseline.text !== REPO_404)
      failures.push(`${method} ${path} [missing] → ${baseline.status} ${baseline.text.slice(0, 120)}`);
    for (const [label, res, expected] of cases) {
      if (res.status !== expected.status || res.text !== expected.text)
        failures.push(
          `${method} ${path} [${label}] → ${res.status} ${res.text.slice(0, 120)}, not the never-existed ${expected.status}`,
        );
    }
  }
  expect(failures).toEqual([]);
});

test('every wire route, when a stale cache still says a deleted repo is live: the route itself answers the 404', async () => {
  // Deleted behind the cache: this process cached the repo as live (with bob as a writer) and
  // never heard of the delete, so resolveRepo lets the request through; what the route does next
  // (its own liveness check, its write gate) must answer as for a repo that never existed.
  const [tombstone] = await sql<{ deleted_at: Date }>(
    gw.databaseUrl,
    'UPDATE musehub_repos SET deleted_at = NULL WHERE repo_id = $1 RETURNING (SELECT deleted_at FROM musehub_repos WHERE repo_id = $1)',
    [deleted.repoId],
  );
  try {
    gw.cache.evictName('alice', deleted.slug);
    expect((await gw.cache.resolve('alice', deleted.slug))?.repoId).toBe(deleted.repoId);
  } finally {
    await sql(gw.databaseUrl, 'UPDATE musehub_repos SET deleted_at = $2 WHERE repo_id = $1', [
      deleted.repoId,
      tombstone!.deleted_at,
    ]);
  }
  const failures: string[] = [];
  const pages = pageRoutes();
  const wireRoutes = repoRoutes().filter(
    ([method, path]) => path.startsWith('/:owner/:slug/') && !pages.has(`${method} ${path}`),
  );
  expect(wireRoutes.length).toBeGreaterThanOrEqual(7);
  try {
    for (const [method, path] of wireRoutes) {
      for (const u of [alice, bob]) {
        expect(await gw.cache.resolve('alice', deleted.slug), 'the cache is still stale').not.toBeNull();
        const res = await call(method, fill(path, asRepo(deleted)), u.token);
        if (res.status !== 404 || res.text !== REPO_404)
          failures.push(`${method} ${path} [${u.username}] → ${res.status} ${res.text.slice(0, 120)}`);
      }
    }
  } finally {
    gw.cache.evictRepo(deleted.repoId);
  }
  expect(failures).toEqual([]);
  expect(await gw.cache.resolve('alice', deleted.slug)).toBeNull();
});

const never = { repoId: randomUUID(), owner: 'alice', slug: 'never-existed' };
const asRepo = (r: RepoBody) => ({ repoId: r.repoId, owner: 'alice', slug: r.slug });

/** One page route: each caller gets, for the private or deleted repo, what they get for one that never existed. */
async function sweepPage(method: string, path: string): Promise<string[]> {
  const failures: string[] = [];
  const cases: [string, RepoBody, U | undefined][] = [
    ['private, stranger', priv, carol],
    ['private, anonymous', priv, undefined],
    ['deleted, collaborator', deleted, bob],
    ['deleted, anonymous', deleted, undefined],
  ];
  if (path.includes(':slug')) {
    cases.push(
      ['private by its old name, stranger', renamed(priv), carol],
      ['deleted by its old name, collaborator', renamed(deleted), bob],
      ['deleted by its old name, anonymous', renamed(deleted), undefined],
    );
  }
  if (!/\/(restore|purge)$/.test(path)) {
    cases.push(['deleted, owner', deleted, alice]);
    if (path.includes(':slug')) cases.push(['deleted by its old name, owner', renamed(deleted), alice]);
  }
  for (const [label, repo, user] of cases) {
    const expected = await call(method, fill(path, never), user?.token, true);
    const res = await call(method, fill(path, asRepo(repo)), user?.token, true);
    // A signed-in GET of a page about a repo that never existed is the one "Not found" page.
    if (user && method === 'GET' && (expected.status !== 404 || !expected.text.includes('<h1>Not found</h1>')))
      failures.push(`${method} ${path} [never existed, ${user.username}] → ${expected.status}`);
    if (res.status !== expected.status || res.text !== expected.text)
      failures.push(`${method} ${path} [${label}] → ${res.status}, not the never-existed ${expected.status}`);
  }
  return failures;
}

test('the sweep covers every page route that names a repo', () => {
  const pages = [...pageRoutes()].filter((r) => r.includes(':slug') || r.includes(':repo_id'));
  expect(pages).toContain('GET /:owner/:slug');
  expect(pages).toContain('GET /:owner/:slug/issues/:number');
  expect(pages).toContain('POST /:owner/:slug/settings/delete');
  expect(pages).toContain('POST /settings/deleted-repos/:repo_id/restore');
  expect(pages).toContain('POST /settings/deleted-repos/:repo_id/purge');
  expect(pages.length).toBeGreaterThanOrEqual(8);
});

test('the owner may delete a deleted repo again (204) but reads of it are 404', async () => {
  expect((await call('DELETE', `/api/v1/repos/${deleted.repoId}`, alice.token)).status).toBe(204);
  expect((await call('GET', `/api/v1/repos/${deleted.repoId}`, alice.token)).text).toBe(REPO_404);
});
