import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let carol: U;

beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  carol = await gw.user('carol');
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const fork = (repoId: string, token: string, json?: unknown) =>
  gw.request('POST', `/api/v1/repos/${repoId}/forks`, { token, json });
const forks = (repoId: string, token?: string, flat = false) =>
  gw.request('GET', `/api/v1/repos/${repoId}/forks${flat ? '?flat=true' : ''}`, { token });

test('A → B → C: direct forks of A is [B]; flat lists B and C', async () => {
  const a = await createRepo(gw, alice.token, { name: 'Tree', visibility: 'public' });
  const b = await (await fork(a.repoId, bob.token)).json();
  expect(b).toMatchObject({ owner: 'bob', slug: 'tree', forkParentId: a.repoId, visibility: 'public' });
  const c = await (await fork(b.repoId, carol.token, { name: 'Tree Remix' })).json();
  expect(c).toMatchObject({ owner: 'carol', slug: 'tree-remix', forkParentId: b.repoId });

  const direct = await (await forks(a.repoId)).json();
  expect(direct.forks.map((r: { repoId: string }) => r.repoId)).toEqual([b.repoId]);
  const flat = await (await forks(a.repoId, undefined, true)).json();
  expect(flat.forks.map((r: { repoId: string }) => r.repoId)).toEqual([b.repoId, c.repoId]);
});

test('a fork copies history rows (branches, commits, snapshots, objects) from its parent', async () => {
  const a = await createRepo(gw, alice.token, { name: 'History', visibility: 'public' });
  const { databaseUrl: url } = gw;
  const objectId = createHash('sha256').update('abc').digest('hex');
  await gw.store.put(objectId, Buffer.from('abc'));
  await sql(url, `INSERT INTO musehub_objects (repo_id, object_id, size) VALUES ($1, $2, 3)`, [a.repoId, objectId]);
  await sql(
    url,
    `INSERT INTO musehub_snapshots (repo_id, snapshot_id, object_ids, record) VALUES ($1, 's1', $2, '\\x80')`,
    [a.repoId, [objectId]],
  );
  await sql(
    url,
    `INSERT INTO musehub_commits (repo_id, commit_id, snapshot_id, record) VALUES ($1, 'c1', 's1', '\\x80')`,
    [a.repoId],
  );
  await sql(url, `INSERT INTO musehub_branches (repo_id, name, head_commit_id) VALUES ($1, 'main', 'c1')`, [a.repoId]);
  const b = await (await fork(a.repoId, bob.token)).json();
  for (const table of ['musehub_objects', 'musehub_snapshots', 'musehub_commits', 'musehub_branches']) {
    expect(await sql(url, `SELECT count(*)::int AS n FROM ${table} WHERE repo_id = $1`, [b.repoId])).toEqual([
      { n: 1 },
    ]);
  }
});

test('a private repo forks private; its forks are visible only to those who may read them', async () => {
  const secret = await createRepo(gw, alice.token, { name: 'Secret' });
  await gw.request('PUT', `/api/v1/repos/${secret.repoId}/collaborators/bob`, {
    token: alice.token,
    json: { permission: 'read' },
  });
  const bobs = await (await fork(secret.repoId, bob.token)).json();
  expect(bobs.visibility).toBe('private');
  // alice can read her repo but not bob's private fork of it.
  expect((await (await forks(secret.repoId, alice.token)).json()).forks).toEqual([]);
  expect((await (await forks(secret.repoId, bob.token)).json()).forks.map((r: { repoId: string }) => r.repoId)).toEqual(
    [bobs.repoId],
  );
  // carol may not read the parent: 404 on listing and on forking.
  await expectRepo404(await forks(secret.repoId, carol.token));
  await expectRepo404(await fork(secret.repoId, carol.token));
});

test('forking needs a signed-in user; a clashing name is 409', async () => {
  const a = await createRepo(gw, alice.token, { name: 'Clash', visibility: 'public' });
  expect((await gw.request('POST', `/api/v1/repos/${a.repoId}/forks`)).status).toBe(401);
  await createRepo(gw, bob.token, { name: 'Clash' });
  expect((await fork(a.repoId, bob.token)).status).toBe(409);
  expect((await fork(a.repoId, bob.token, { name: 'Clash 2' })).status).toBe(201);
});
