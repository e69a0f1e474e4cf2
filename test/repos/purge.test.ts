import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { openOrm } from '../../src/database.ts';
import { PURGE_LOCK, purgeExpired } from '../../src/repos/purge.service.ts';
import { addCollaborator, createPushedRepo, createRepo, expectRepo404, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';
import { eventually } from '../helpers/process.ts';
import { page, postForm, signIn } from '../helpers/web.ts';

/**
 * Issue 25 (retention and purge): a deleted repo can be removed for good — by its owner now, or
 * by the retention window — through the one path the guard on musehub_repos lets through. Its
 * rows go, its audit trail stays, shared bytes keep their other holders.
 */
type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;
let carol: U;

beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_DELETED_REPO_RETENTION_DAYS: '30', MUSEHUB_PURGE_INTERVAL_MS: '1000' });
  alice = await gw.user('alice');
  bob = await gw.user('bob');
  carol = await gw.user('carol');
});
afterAll(() => gw?.close());
afterEach(() => gw.expectIntegrity());

const del = (repo: RepoBody, token = alice.token) =>
  gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token }).then((r) => expect(r.status).toBe(204));
const purge = (owner: string, slug: string, token: string | undefined) =>
  gw.request('POST', `/api/v1/user/deleted-repos/${owner}/${slug}/purge`, token ? { token } : {});

/** Every table with a repo_id column (the audit log aside), read from the catalogue: rows naming `repoId`. */
async function rowsNaming(repoId: string): Promise<Record<string, number>> {
  const tables = await sql<{ table_name: string }>(
    gw.databaseUrl,
    `SELECT table_name FROM information_schema.columns
      WHERE column_name = 'repo_id' AND table_schema = 'public' AND table_name <> 'musehub_audit_events'`,
  );
  const counts: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [row] = await sql<{ n: number }>(
      gw.databaseUrl,
      `SELECT count(*)::int AS n FROM ${table_name} WHERE repo_id = $1`,
      [repoId],
    );
    counts[table_name] = row!.n;
  }
  const [forks] = await sql<{ n: number }>(
    gw.databaseUrl,
    'SELECT count(*)::int AS n FROM musehub_repos WHERE fork_parent_id = $1',
    [repoId],
  );
  counts.forks = forks!.n;
  return counts;
}

const auditOf = (repoId: string) =>
  sql<{ action: string; actor_user_id: string | null; details: Record<string, unknown> }>(
    gw.databaseUrl,
    'SELECT action, actor_user_id, details FROM musehub_audit_events WHERE repo_id = $1 ORDER BY occurred_at',
    [repoId],
  );

test('the owner purges a deleted repo: every row naming it is gone, its audit trail stays, restore is 404, the name is free', async () => {
  const { repo, remote } = await createPushedRepo(gw, alice.token, 'secret pushed');
  const api = `/api/v1/repos/${repo.repoId}`;
  for (const [path, json] of [
    ['/issues', { title: 'oops', labels: ['x'] }],
    ['/issues/1/comments', { body: 'c' }],
    ['/proposals', { title: 'p', fromBranch: 'dev' }],
    ['/proposals/1/comments', { body: 'pc' }],
  ] as const) {
    expect((await gw.request('POST', `${api}${path}`, { token: alice.token, json })).status, path).toBe(201);
  }
  await addCollaborator(gw, alice.token, repo.repoId, 'bob', 'write');
  await del(repo);
  const before = await rowsNaming(repo.repoId);
  expect(before.musehub_repos).toBe(1);
  expect(before.musehub_objects).toBeGreaterThan(0);

  const res = await purge('alice', repo.slug, alice.token);
  expect(res.status).toBe(200);
  const body = await res.json();
  expect(body.purged).toHaveLength(1);
  expect(body.purged[0]).toMatchObject({ repoId: repo.repoId, owner: 'alice', slug: repo.slug });
  expect(body.purged[0].counts).toMatchObject({
    issues: 1,
    issueComments: 1,
    issueLabels: 1,
    proposals: 1,
    proposalComments: 1,
    collaborators: 1,
    branches: 1,
    commits: 1,
    snapshots: 1,
    objects: 1,
  });
  // a.txt = "base": no other repo here names it, so its 4 bytes are now unreferenced.
  expect(body.purged[0].unreferenced).toEqual({ objects: 1, bytes: 4 });

  expect(Object.values(await rowsNaming(repo.repoId)).every((n) => n === 0)).toBe(true);
  expect((await auditOf(repo.repoId)).map((e) => e.action)).toEqual(['repo.delete', 'repo.purge']);
  const [, purgeEvent] = await auditOf(repo.repoId);
  expect(purgeEvent!.actor_user_id).toBe(alice.userId);
  expect(purgeEvent!.details).toMatchObject({ owner: 'alice', slug: repo.slug, reason: 'owner' });

  await expectRepo404(await gw.request('POST', `${api}/restore`, { token: alice.token }));
  expect((await purge('alice', repo.slug, alice.token)).status).toBe(404);
  const deleted = await (await gw.request('GET', '/api/v1/user/deleted-repos', { token: alice.token })).json();
  expect(deleted.repos.map((r: { repoId: string }) => r.repoId)).not.toContain(repo.repoId);
  await expectRepo404(await gw.request('GET', `${remote}/refs`));
  // The name is free: a new repo takes it.
  expect((await createRepo(gw, alice.token, { name: 'secret pushed' })).slug).toBe(repo.slug);
});

test('bytes another repo holds stay with it: a fork keeps its objects and is detached, and only unshared objects count as unreferenced', async () => {
  const repo = await createRepo(gw, alice.token, { name: 'shared song', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const shared = `shared-${Date.now()}`;
  const { snapshot, objects } = makeSnapshot({ 'shared.txt': shared, 'only-here.txt': `${shared}-alone` });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  expect((await pushAll(gw, remote, alice.token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(
    200,
  );
  const forked = await gw.request('POST', `/api/v1/repos/${repo.repoId}/forks`, { token: bob.token, json: {} });
  expect(forked.status).toBe(201);
  const fork = await forked.json();
  await del(repo);
  const res = await purge('alice', repo.slug, alice.token);
  expect(res.status).toBe(200);
  const [purged] = (await res.json()).purged;
  // Both objects are still named by the fork's rows: nothing became unreferenced.
  expect(purged.unreferenced).toEqual({ objects: 0, bytes: 0 });
  const [row] = await sql<{ fork_parent_id: string | null }>(
    gw.databaseUrl,
    'SELECT fork_parent_id FROM musehub_repos WHERE repo_id = $1',
    [fork.repoId],
  );
  expect(row!.fork_parent_id).toBeNull();
  const cloned = await wire(gw, 'POST', `/bob/${fork.slug}/fetch`, { want: [commit.commit_id], have: [] });
  expect(cloned.status).toBe(200);
  for (const o of objects) {
    const got = cloned.body.objects.find((x: { object_id: string }) => x.object_id === o.object_id);
    expect(Buffer.from(got.content).equals(o.content)).toBe(true);
  }
  expect((await gw.request('GET', `/api/v1/repos/${fork.repoId}`, { token: bob.token })).status).toBe(200);

  // Without the fork, the same bytes are unreferenced once purged.
  const lone = await createRepo(gw, alice.token, { name: 'lone song', visibility: 'public' });
  const unique = makeSnapshot({ 'u.txt': `unique-${Date.now()}-${Math.random()}` });
  const c2 = makeCommit({ snapshotId: unique.snapshot.snapshot_id });
  expect(
    (
      await pushAll(gw, `/alice/${lone.slug}`, alice.token, {
        commits: [c2],
        snapshots: [unique.snapshot],
        objects: unique.objects,
      })
    ).status,
  ).toBe(200);
  await del(lone);
  const [lonePurged] = (await (await purge('alice', lone.slug, alice.token)).json()).purged;
  expect(lonePurged.unreferenced).toEqual({ objects: 1, bytes: unique.objects[0]!.content.length });
});

test('purging a private repo takes its deleted private forks with it; a live repo is 409 and a stranger meets the 404', async () => {
  const parent = await createRepo(gw, alice.token, { name: 'private tree', visibility: 'private' });
  await addCollaborator(gw, alice.token, parent.repoId, 'carol', 'read');
  const forked = await gw.request('POST', `/api/v1/repos/${parent.repoId}/forks`, { token: carol.token, json: {} });
  expect(forked.status).toBe(201);
  const fork = await forked.json();

  // Live: 409, nothing changes.
  const before = await gw.fingerprint();
  const live = await purge('alice', parent.slug, alice.token);
  expect(live.status).toBe(409);
  expect((await live.json()).code).toBe('repo_not_deleted');
  expect(await gw.fingerprint()).toBe(before);

  await del(parent); // takes carol's private fork with it
  const never = await purge('alice', 'never-was', bob.token);
  for (const [token, expected] of [
    [bob.token, never],
    [carol.token, never],
  ] as const) {
    const res = await purge('alice', parent.slug, token);
    expect(res.status).toBe(expected.status);
  }
  expect((await purge('alice', parent.slug, undefined)).status).toBe(401);
  expect(await gw.fingerprint()).not.toBe(before); // the delete itself changed it; the refusals did not purge:
  expect((await rowsNaming(parent.repoId)).musehub_repos).toBe(1);

  const res = await purge('alice', parent.slug, alice.token);
  expect(res.status).toBe(200);
  const ids = (await res.json()).purged.map((p: { repoId: string }) => p.repoId);
  expect(ids.sort()).toEqual([parent.repoId, fork.repoId].sort());
  expect((await rowsNaming(fork.repoId)).musehub_repos).toBe(0);
  const forkEvents = await auditOf(fork.repoId);
  expect(forkEvents.map((e) => e.action)).toEqual(['repo.delete', 'repo.purge']);
  expect(forkEvents[1]!.details).toMatchObject({ withParent: parent.repoId });
});

test('the guard still refuses every other DELETE of a repo row, deleted or live, even one naming itself as the purge', async () => {
  const repo = await createRepo(gw, alice.token, { name: 'guarded' });
  await del(repo);
  const client = new pg.Client({ connectionString: gw.databaseUrl });
  await client.connect();
  try {
    await expect(client.query('DELETE FROM musehub_repos WHERE repo_id = $1', [repo.repoId])).rejects.toThrow(
      /only a purge of a deleted repo/,
    );
    const live = await createRepo(gw, alice.token, { name: 'guarded live' });
    await client.query('BEGIN');
    await client.query(`SELECT set_config('musehub.purging', $1, true)`, [live.repoId]);
    await expect(client.query('DELETE FROM musehub_repos WHERE repo_id = $1', [live.repoId])).rejects.toThrow(
      /only a purge of a deleted repo/,
    );
    await client.query('ROLLBACK');
  } finally {
    await client.end();
  }
  expect((await rowsNaming(repo.repoId)).musehub_repos).toBe(1);
});

test('retention: the scheduler purges repos deleted longer ago than MUSEHUB_DELETED_REPO_RETENTION_DAYS, one process at a time, and the list says when', async () => {
  const old = await createRepo(gw, alice.token, { name: 'long gone' });
  const recent = await createRepo(gw, alice.token, { name: 'just gone' });
  await del(old);
  await del(recent);
  const listed = await (await gw.request('GET', '/api/v1/user/deleted-repos', { token: alice.token })).json();
  const line = listed.repos.find((r: { repoId: string }) => r.repoId === recent.repoId);
  expect(Date.parse(line.purgeAt) - Date.parse(line.deletedAt)).toBe(30 * 24 * 3600 * 1000);

  // The purge lock held here: another process's purge finds it taken and does nothing.
  const holder = new pg.Client({ connectionString: gw.databaseUrl });
  await holder.connect();
  const orm = await openOrm(gw.databaseUrl, 1);
  try {
    await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [PURGE_LOCK]);
    await sql(gw.databaseUrl, `UPDATE musehub_repos SET deleted_at = now() - interval '31 days' WHERE repo_id = $1`, [
      old.repoId,
    ]);
    expect(await purgeExpired(orm.em.fork(), new Date())).toBeNull();
    expect((await rowsNaming(old.repoId)).musehub_repos).toBe(1);
    await holder.query('SELECT pg_advisory_unlock_all()');
  } finally {
    await holder.end();
    await orm.close();
  }
  // Released: the gateway's own schedule (every second here) purges the old one, not the recent one.
  await eventually(async () => (await rowsNaming(old.repoId)).musehub_repos === 0, 30_000);
  expect((await rowsNaming(recent.repoId)).musehub_repos).toBe(1);
  const [, event] = await auditOf(old.repoId);
  expect(event).toMatchObject({ action: 'repo.purge', actor_user_id: null, details: { reason: 'retention' } });
  const metrics = await (await gw.request('GET', '/metrics')).text();
  expect(Number(/^musehub_repos_purged_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
  expect(Number(/^musehub_purge_last_run_timestamp_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
});

test('the deleted-repos page purges only with the typed name, and shows when each repo will be purged', async () => {
  const repo = await createRepo(gw, alice.token, { name: 'page purge' });
  await del(repo);
  const session = await signIn(gw, alice.token);
  const list = await page(gw, '/settings/deleted-repos', session.cookie);
  expect(list.text).toContain('Purged for good');
  const path = `/settings/deleted-repos/${repo.repoId}/purge`;
  const wrong = await postForm(gw, path, { csrf: session.csrf, confirm: 'alice/other' }, session.cookie);
  expect(wrong.status).toBe(400);
  expect(wrong.text).toContain('Nothing was purged');
  expect((await rowsNaming(repo.repoId)).musehub_repos).toBe(1);
  const right = await postForm(gw, path, { csrf: session.csrf, confirm: `alice/${repo.slug}` }, session.cookie);
  expect(right.status).toBe(303);
  expect((await rowsNaming(repo.repoId)).musehub_repos).toBe(0);
  // Bob's session cannot purge (or learn of) alice's deleted repos: the one not-found page.
  const other = await createRepo(gw, alice.token, { name: 'page purge two' });
  await del(other);
  const bobs = await signIn(gw, bob.token);
  const refused = await postForm(
    gw,
    `/settings/deleted-repos/${other.repoId}/purge`,
    { csrf: bobs.csrf, confirm: `alice/${other.slug}` },
    bobs.cookie,
  );
  expect(refused.status).toBe(404);
  expect((await rowsNaming(other.repoId)).musehub_repos).toBe(1);
});
