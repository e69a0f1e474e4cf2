import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { addCollaborator, createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';

/**
 * GitHub's rule for private forks: they follow access to their parent. Deleting a private repo
 * deletes its private forks (and theirs), each with its own deletion id and audit event, and
 * restoring the parent brings back exactly those; removing a collaborator deletes their private
 * forks of it. Until then, the private content stays reachable only to those who may read it.
 */
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

const api = (repoId: string) => `/api/v1/repos/${repoId}`;
const forkOf = async (repoId: string, who: U, name?: string): Promise<RepoBody> => {
  const res = await gw.request('POST', `${api(repoId)}/forks`, { token: who.token, json: name ? { name } : {} });
  expect(res.status).toBe(201);
  return res.json();
};

/** A private repo of alice's with one pushed commit, bob a reader of it. */
async function privateWithReader(name: string) {
  const repo = await createRepo(gw, alice.token, { name });
  const { snapshot, objects } = makeSnapshot({ 'secret.txt': `the secret of ${name}` });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  const pushed = await pushAll(gw, `/alice/${repo.slug}`, alice.token, {
    commits: [commit],
    snapshots: [snapshot],
    objects,
  });
  expect(pushed.status).toBe(200);
  await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
  return { repo, head: commit.commit_id };
}

/** Whether `who` can clone `owner/slug` and get the secret's commit. */
async function canFetch(who: U, owner: string, slug: string, head: string): Promise<boolean> {
  const res = await wire(gw, 'POST', `/${owner}/${slug}/fetch`, { want: [head], have: [] }, { token: who.token });
  if (res.status === 404) return false;
  expect(res.status).toBe(200);
  return true;
}

const deletedList = async (who: U) =>
  (await (await gw.request('GET', '/api/v1/user/deleted-repos', { token: who.token })).json()).repos as {
    repoId: string;
    cause: string | null;
  }[];

test('deleting a private repo deletes its private forks and theirs; restoring it brings exactly those back', async () => {
  const { repo, head } = await privateWithReader('score');
  const bobs = await forkOf(repo.repoId, bob);
  await addCollaborator(gw, bob.token, bobs.repoId, 'carol', 'read');
  const carols = await forkOf(bobs.repoId, carol);
  expect(await canFetch(carol, 'carol', carols.slug, head)).toBe(true);

  expect((await gw.request('DELETE', api(repo.repoId), { token: alice.token })).status).toBe(204);
  for (const [who, fork] of [
    [bob, bobs],
    [carol, carols],
  ] as const) {
    expect(await canFetch(who, fork.owner, fork.slug, head)).toBe(false);
    await expectRepo404(await gw.request('GET', api(fork.repoId), { token: who.token }));
    expect(await deletedList(who)).toContainEqual(
      expect.objectContaining({ repoId: fork.repoId, cause: 'parent_deleted' }),
    );
  }
  // Each its own deletion id, its own audit event, and a link to the deletion that took it.
  const rows = await sql<{ repo_id: string; deletion_id: string; deleted_with: string | null }>(
    gw.databaseUrl,
    'SELECT repo_id, deletion_id, deleted_with FROM musehub_repos WHERE repo_id = ANY($1) ORDER BY created_at',
    [[repo.repoId, bobs.repoId, carols.repoId]],
  );
  expect(new Set(rows.map((r) => r.deletion_id)).size).toBe(3);
  expect(rows.map((r) => r.deleted_with)).toEqual([null, rows[0]!.deletion_id, rows[1]!.deletion_id]);
  const audits = await sql<{ repo_id: string }>(
    gw.databaseUrl,
    `SELECT repo_id FROM musehub_audit_events WHERE action = 'repo.delete' AND repo_id = ANY($1)`,
    [[repo.repoId, bobs.repoId, carols.repoId]],
  );
  expect(audits).toHaveLength(3);

  // Bob may not bring his fork back while he cannot read its parent.
  const early = await gw.request('POST', `${api(bobs.repoId)}/restore`, { token: bob.token });
  expect(early.status).toBe(409);
  expect((await early.json()).code).toBe('fork_parent_unavailable');

  expect((await gw.request('POST', `${api(repo.repoId)}/restore`, { token: alice.token })).status).toBe(200);
  expect(await canFetch(bob, 'bob', bobs.slug, head)).toBe(true);
  expect(await canFetch(carol, 'carol', carols.slug, head)).toBe(true);
  expect(await deletedList(bob)).toEqual([]);
});

test('a fork deleted by its own owner before the parent stays deleted when the parent is restored', async () => {
  const { repo } = await privateWithReader('etude');
  const bobs = await forkOf(repo.repoId, bob);
  expect((await gw.request('DELETE', api(bobs.repoId), { token: bob.token })).status).toBe(204);
  expect((await gw.request('DELETE', api(repo.repoId), { token: alice.token })).status).toBe(204);
  expect((await gw.request('POST', `${api(repo.repoId)}/restore`, { token: alice.token })).status).toBe(200);
  expect(await deletedList(bob)).toContainEqual(expect.objectContaining({ repoId: bobs.repoId, cause: null }));
  // Bob may read the parent again, so his own restore is his to make.
  expect((await gw.request('POST', `${api(bobs.repoId)}/restore`, { token: bob.token })).status).toBe(200);
});

test('removing a collaborator deletes their private forks of the repo; given access again, they may restore them', async () => {
  const { repo, head } = await privateWithReader('nocturne');
  const bobs = await forkOf(repo.repoId, bob);
  const alices = await forkOf(repo.repoId, alice, 'nocturne copy');
  expect(await canFetch(bob, 'bob', bobs.slug, head)).toBe(true);

  expect((await gw.request('DELETE', `${api(repo.repoId)}/collaborators/bob`, { token: alice.token })).status).toBe(
    204,
  );
  expect(await canFetch(bob, 'bob', bobs.slug, head)).toBe(false);
  expect(await deletedList(bob)).toContainEqual(expect.objectContaining({ repoId: bobs.repoId, cause: 'access_lost' }));
  // Only the removed person's forks go.
  expect(await canFetch(alice, 'alice', alices.slug, head)).toBe(true);
  expect((await gw.request('POST', `${api(bobs.repoId)}/restore`, { token: bob.token })).status).toBe(409);

  await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'read');
  expect((await gw.request('POST', `${api(bobs.repoId)}/restore`, { token: bob.token })).status).toBe(200);
  expect(await canFetch(bob, 'bob', bobs.slug, head)).toBe(true);
});

test('forks of a public repo stay live when it is deleted (GitHub keeps the public network)', async () => {
  const open = await createRepo(gw, alice.token, { name: 'open score', visibility: 'public' });
  const bobs = await forkOf(open.repoId, bob);
  expect((await gw.request('DELETE', api(open.repoId), { token: alice.token })).status).toBe(204);
  expect((await gw.request('GET', api(bobs.repoId), { token: carol.token })).status).toBe(200);
});
