import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { addCollaborator, createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';
import { page } from '../helpers/web.ts';

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
afterEach(() => gw.expectIntegrity());

const patch = (repoId: string, token: string, json: unknown) =>
  gw.request('PATCH', `/api/v1/repos/${repoId}`, { token, json });
const byName = (owner: string, slug: string, token?: string) =>
  fetch(`${gw.url}/api/v1/users/${owner}/repos/${slug}`, {
    redirect: 'manual',
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

async function pushedRepo(name: string, visibility: 'public' | 'private' = 'public') {
  const repo = await createRepo(gw, alice.token, { name, visibility });
  const { snapshot, objects } = makeSnapshot({ 'a.txt': `first of ${name}` });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  const pushed = await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
    commits: [commit],
    snapshots: [snapshot],
    objects,
  });
  expect(pushed.status).toBe(200);
  return { repo, commit, objects };
}

describe('rename (PATCH /api/v1/repos/{id} with a name)', () => {
  test('the repo answers at its new name; its old name redirects on REST and pages and keeps working on the wire', async () => {
    const { repo, commit } = await pushedRepo('Old Tune');
    // Warm every process-local cache under the old name first: the rename must reach them.
    expect((await wire(gw, 'GET', '/alice/old-tune/refs')).status).toBe(200);
    const res = await patch(repo.repoId, alice.token, { name: 'New Tune' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ repoId: repo.repoId, slug: 'new-tune', name: 'New Tune' });

    const moved = await byName('alice', 'old-tune');
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe(`${gw.url}/api/v1/users/alice/repos/new-tune`);
    expect(await moved.json()).toMatchObject({ code: 'repo_moved' });
    expect((await byName('alice', 'new-tune')).status).toBe(200);

    const pageMoved = await page(gw, '/alice/old-tune/commits?branch=main');
    expect(pageMoved.status).toBe(301);
    expect(pageMoved.headers.get('location')).toBe('/alice/new-tune/commits?branch=main');
    expect((await page(gw, '/alice/new-tune')).status).toBe(200);

    // The muse client never follows a redirect: its remotes at the old name keep working.
    for (const name of ['old-tune', 'new-tune']) {
      const refs = await wire(gw, 'GET', `/alice/${name}/refs`);
      expect(refs.status).toBe(200);
      expect(refs.body.repo_id).toBe(repo.repoId);
      expect(refs.body.branch_heads.main).toBe(commit.commit_id);
    }
    const { snapshot, objects } = makeSnapshot({ 'b.txt': 'pushed to the old name' });
    const next = makeCommit({ snapshotId: snapshot.snapshot_id, parent: commit.commit_id });
    const pushed = await pushAll(gw, '/alice/old-tune', alice.token, {
      commits: [next],
      snapshots: [snapshot],
      objects,
    });
    expect(pushed.status).toBe(200);
    expect((await wire(gw, 'GET', '/alice/new-tune/refs')).body.branch_heads.main).toBe(next.commit_id);
  });

  test('a private repo: its old name is the never-existed 404 to anyone who may not read it, everywhere', async () => {
    const { repo } = await pushedRepo('Secret Tune', 'private');
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
    expect((await patch(repo.repoId, alice.token, { name: 'Hidden Tune' })).status).toBe(200);
    expect((await byName('alice', 'secret-tune', bob.token)).status).toBe(301);
    for (const token of [carol.token, undefined]) {
      await expectRepo404(await byName('alice', 'secret-tune', token));
      expect((await wire(gw, 'GET', '/alice/secret-tune/refs', undefined, token ? { token } : {})).status).toBe(404);
    }
    expect((await page(gw, '/alice/secret-tune')).status).toBe(404);
  });

  test('after a delete, neither name answers, at once (the cache under both names is forgotten)', async () => {
    const { repo } = await pushedRepo('Doomed Tune');
    expect((await patch(repo.repoId, alice.token, { name: 'Doomed Still' })).status).toBe(200);
    for (const name of ['doomed-tune', 'doomed-still']) {
      expect((await wire(gw, 'GET', `/alice/${name}/refs`)).status).toBe(200); // cached under both names
    }
    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token })).status).toBe(204);
    for (const name of ['doomed-tune', 'doomed-still']) {
      expect((await wire(gw, 'GET', `/alice/${name}/refs`)).status).toBe(404);
      await expectRepo404(await byName('alice', name));
    }
  });

  test('two renames at once: the repo ends under one of the names and every name it had leads to it', async () => {
    for (let round = 0; round < 10; round++) {
      const repo = await createRepo(gw, alice.token, { name: `Race ${round}`, visibility: 'public' });
      const [a, b] = await Promise.all([
        patch(repo.repoId, alice.token, { name: `Race ${round} A` }),
        patch(repo.repoId, alice.token, { name: `Race ${round} B` }),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const [row] = await sql(gw.databaseUrl, 'SELECT slug FROM musehub_repos WHERE repo_id = $1', [repo.repoId]);
      for (const name of [`race-${round}`, `race-${round}-a`, `race-${round}-b`]) {
        expect((await wire(gw, 'GET', `/alice/${name}/refs`)).body.repo_id, `${name} (now ${row?.slug})`).toBe(
          repo.repoId,
        );
      }
    }
  });

  test('a new repo that takes the old name ends the redirect for good; renaming onto a live name is a 409', async () => {
    const a = await createRepo(gw, alice.token, { name: 'Taken', visibility: 'public' });
    const b = await createRepo(gw, alice.token, { name: 'Other', visibility: 'public' });
    const clash = await patch(a.repoId, alice.token, { name: 'Other' });
    expect(clash.status).toBe(409);
    expect(await clash.json()).toMatchObject({ code: 'repo_exists' });
    expect((await patch(a.repoId, alice.token, { name: 'Taken Two' })).status).toBe(200);
    expect((await wire(gw, 'GET', '/alice/taken/refs')).body.repo_id).toBe(a.repoId);
    const fresh = await createRepo(gw, alice.token, { name: 'Taken', visibility: 'public' });
    expect((await wire(gw, 'GET', '/alice/taken/refs')).body.repo_id).toBe(fresh.repoId);
    // Deleting the newcomer does not bring the old redirect back.
    expect((await gw.request('DELETE', `/api/v1/repos/${fresh.repoId}`, { token: alice.token })).status).toBe(204);
    expect((await wire(gw, 'GET', '/alice/taken/refs')).status).toBe(404);
    expect((await byName('alice', 'other')).status).toBe(200);
    expect(b.slug).toBe('other');
  });

  test('restore refused for a taken name names the rename; after it, the restore succeeds', async () => {
    const old = await createRepo(gw, alice.token, { name: 'Phoenix', visibility: 'public' });
    await gw.request('DELETE', `/api/v1/repos/${old.repoId}`, { token: alice.token });
    const fresh = await createRepo(gw, alice.token, { name: 'Phoenix', visibility: 'public' });
    const refused = await gw.request('POST', `/api/v1/repos/${old.repoId}/restore`, { token: alice.token });
    expect(refused.status).toBe(409);
    expect((await refused.json()).detail).toContain('musehub repo rename alice/phoenix <new-name>');
    expect((await patch(fresh.repoId, alice.token, { name: 'Phoenix Two' })).status).toBe(200);
    const restored = await gw.request('POST', `/api/v1/repos/${old.repoId}/restore`, { token: alice.token });
    expect(restored.status).toBe(200);
    // The restored repo owns its name again: no redirect to the renamed one.
    expect((await wire(gw, 'GET', '/alice/phoenix/refs')).body.repo_id).toBe(old.repoId);
    expect((await byName('alice', 'phoenix')).status).toBe(200);
  });
});

describe('description and visibility', () => {
  test('visibility private takes effect on every surface at once; public again likewise', async () => {
    const { repo } = await pushedRepo('Flip Vis Old');
    expect((await patch(repo.repoId, alice.token, { name: 'Flip Vis' })).status).toBe(200);
    // Cached as public under both of its names.
    for (const name of ['flip-vis-old', 'flip-vis'])
      expect((await wire(gw, 'GET', `/alice/${name}/refs`)).status).toBe(200);
    const res = await patch(repo.repoId, alice.token, { visibility: 'private', description: 'now hidden' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ visibility: 'private', description: 'now hidden' });
    for (const name of ['flip-vis-old', 'flip-vis']) {
      expect((await wire(gw, 'GET', `/alice/${name}/refs`)).status).toBe(404);
      await expectRepo404(await byName('alice', name));
      expect((await wire(gw, 'GET', `/alice/${name}/refs`, undefined, { token: alice.token })).status).toBe(200);
    }
    expect((await patch(repo.repoId, alice.token, { visibility: 'public' })).status).toBe(200);
    expect((await wire(gw, 'GET', '/alice/flip-vis/refs')).status).toBe(200);
  });

  test('a public fork of a repo made private no longer names its parent: its later delete cannot be seen through the fork', async () => {
    const parent = await createRepo(gw, alice.token, { name: 'Tree Parent', visibility: 'public' });
    const forked = await gw.request('POST', `/api/v1/repos/${parent.repoId}/forks`, { token: bob.token, json: {} });
    expect(forked.status).toBe(201);
    const fork = await forked.json();
    const forkAsStranger = async () =>
      (await (await gw.request('GET', `/api/v1/repos/${fork.repoId}`, { token: carol.token })).json()).forkParentId;
    expect(await forkAsStranger()).toBe(parent.repoId);
    expect((await patch(parent.repoId, alice.token, { visibility: 'private' })).status).toBe(200);
    const hidden = await forkAsStranger();
    expect(hidden).toBeNull();
    expect((await gw.request('DELETE', `/api/v1/repos/${parent.repoId}`, { token: alice.token })).status).toBe(204);
    expect(await forkAsStranger()).toBe(hidden);
  });

  test('who may: a reader gets 403, a stranger to a private repo the repo 404, an admin may; bad input changes nothing', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Guarded', visibility: 'private' });
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
    await expectRepo404(await patch(repo.repoId, carol.token, { description: 'x' }));
    const reader = await patch(repo.repoId, bob.token, { description: 'x' });
    expect(reader.status).toBe(403);
    await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'admin');
    expect((await patch(repo.repoId, bob.token, { description: 'by an admin' })).status).toBe(200);
    const before = await sql(
      gw.databaseUrl,
      'SELECT slug, name, description, visibility FROM musehub_repos WHERE repo_id = $1',
      [repo.repoId],
    );
    for (const [body, detail] of [
      [{}, /nothing to change/],
      [{ visibility: 'secret' }, /visibility/],
      [{ name: '!!!' }, /at least one letter or digit/],
      [{ owner: 'bob' }, /owner/],
    ] as const) {
      const bad = await patch(repo.repoId, alice.token, body);
      expect(bad.status).toBe(400);
      expect((await bad.json()).detail).toMatch(detail);
    }
    expect(
      await sql(gw.databaseUrl, 'SELECT slug, name, description, visibility FROM musehub_repos WHERE repo_id = $1', [
        repo.repoId,
      ]),
    ).toEqual(before);
  });
});
