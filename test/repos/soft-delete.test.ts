import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { addCollaborator, createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;
let bob: U;

beforeAll(async () => {
  // Its webhooks point at loopback (port 9, nothing listens), which the default policy refuses.
  gw = await startTestGateway({ MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'loopback' });
  alice = await gw.user('alice');
  bob = await gw.user('bob');
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

/** A repo with two issues (3 comments, one already deleted by its author), a proposal with a comment, and a webhook. */
async function populatedRepo(opts: { name?: string; visibility?: 'public' | 'private' } = {}) {
  const repo = await createRepo(gw, alice.token, opts);
  const api = (p: string) => `/api/v1/repos/${repo.repoId}${p}`;
  const t = alice.token;
  await gw.request('POST', api('/issues'), { token: t, json: { title: 'one' } });
  await gw.request('POST', api('/issues'), { token: t, json: { title: 'two' } });
  await gw.request('POST', api('/issues/1/comments'), { token: t, json: { body: 'a' } });
  await gw.request('POST', api('/issues/1/comments'), { token: t, json: { body: 'b' } });
  const gone = await (
    await gw.request('POST', api('/issues/2/comments'), { token: t, json: { body: 'withdrawn' } })
  ).json();
  await gw.request('DELETE', api(`/issues/2/comments/${gone.commentId}`), { token: t });
  await gw.request('POST', api('/proposals'), { token: t, json: { title: 'p', fromBranch: 'dev' } });
  await gw.request('POST', api('/proposals/1/comments'), { token: t, json: { body: 'pc' } });
  await gw.request('POST', api('/webhooks'), { token: t, json: { url: 'http://127.0.0.1:9/', events: ['*'] } });
  return { repo, withdrawnCommentId: gone.commentId as string };
}

const rowsOf = async (repoId: string) => ({
  repo: (
    await sql(gw.databaseUrl, 'SELECT deleted_at, deleted_by, deletion_id FROM musehub_repos WHERE repo_id = $1', [
      repoId,
    ])
  )[0],
  issues: await sql(
    gw.databaseUrl,
    'SELECT number, deleted_at, deletion_id FROM musehub_issues WHERE repo_id = $1 ORDER BY number',
    [repoId],
  ),
  issueComments: await sql(
    gw.databaseUrl,
    'SELECT comment_id, body, is_deleted, deletion_id FROM musehub_issue_comments WHERE repo_id = $1 ORDER BY body',
    [repoId],
  ),
  proposals: await sql(gw.databaseUrl, 'SELECT deleted_at, deletion_id FROM musehub_proposals WHERE repo_id = $1', [
    repoId,
  ]),
  proposalComments: await sql(
    gw.databaseUrl,
    'SELECT is_deleted, deletion_id FROM musehub_proposal_comments WHERE repo_id = $1',
    [repoId],
  ),
  webhooks: await sql(gw.databaseUrl, 'SELECT active, deletion_id FROM musehub_webhooks WHERE repo_id = $1', [repoId]),
});

describe('delete', () => {
  test('tombstones the repo and everything below it in one go, keeps every row, audits, and is idempotent', async () => {
    const { repo, withdrawnCommentId } = await populatedRepo();
    const res = await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token });
    expect(res.status).toBe(204);

    const rows = await rowsOf(repo.repoId);
    const deletionId = rows.repo!.deletion_id;
    expect(rows.repo).toEqual({
      deleted_at: expect.any(Date),
      deleted_by: alice.userId,
      deletion_id: expect.any(String),
    });
    expect(rows.issues).toEqual([
      { number: 1, deleted_at: rows.repo!.deleted_at, deletion_id: deletionId },
      { number: 2, deleted_at: rows.repo!.deleted_at, deletion_id: deletionId },
    ]);
    expect(rows.issueComments).toEqual([
      { comment_id: expect.any(String), body: 'a', is_deleted: true, deletion_id: deletionId },
      { comment_id: expect.any(String), body: 'b', is_deleted: true, deletion_id: deletionId },
      // Deleted by its author before the repo delete: not stamped, so a restore leaves it deleted.
      { comment_id: withdrawnCommentId, body: 'withdrawn', is_deleted: true, deletion_id: null },
    ]);
    expect(rows.proposals).toEqual([{ deleted_at: rows.repo!.deleted_at, deletion_id: deletionId }]);
    expect(rows.proposalComments).toEqual([{ is_deleted: true, deletion_id: deletionId }]);
    expect(rows.webhooks).toEqual([{ active: false, deletion_id: deletionId }]);

    const audit = await sql(
      gw.databaseUrl,
      `SELECT action, actor_user_id, deletion_id, details FROM musehub_audit_events WHERE repo_id = $1`,
      [repo.repoId],
    );
    expect(audit).toEqual([
      {
        action: 'repo.delete',
        actor_user_id: alice.userId,
        deletion_id: deletionId,
        details: {
          owner: 'alice',
          slug: repo.slug,
          tombstoned: { issues: 2, issueComments: 2, proposals: 1, proposalComments: 1, webhooks: 1 },
        },
      },
    ]);

    // Deleting twice succeeds and changes nothing.
    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token })).status).toBe(204);
    expect(await rowsOf(repo.repoId)).toEqual(rows);
  });

  test('only the owner deletes: a collaborator who can see it gets 403, a stranger to a private repo 404, anyone on a deleted one 404', async () => {
    const pub = await createRepo(gw, alice.token, { visibility: 'public' });
    const priv = await createRepo(gw, alice.token);
    await addCollaborator(gw, alice.token, priv.repoId, 'bob', 'admin');
    expect((await gw.request('DELETE', `/api/v1/repos/${pub.repoId}`, { token: bob.token })).status).toBe(403);
    expect((await gw.request('DELETE', `/api/v1/repos/${priv.repoId}`, { token: bob.token })).status).toBe(403);
    const carol = await gw.user('carol');
    await expectRepo404(await gw.request('DELETE', `/api/v1/repos/${priv.repoId}`, { token: carol.token }));
    expect((await gw.request('DELETE', `/api/v1/repos/${pub.repoId}`)).status).toBe(401);
    await gw.request('DELETE', `/api/v1/repos/${pub.repoId}`, { token: alice.token });
    await expectRepo404(await gw.request('DELETE', `/api/v1/repos/${pub.repoId}`, { token: bob.token }));
    await expectRepo404(await gw.request('POST', `/api/v1/repos/${pub.repoId}/restore`, { token: bob.token }));
  });

  test('a deleted repo disappears from every list and read; a live fork stays but no longer exposes its parent', async () => {
    const { repo } = await populatedRepo({ name: 'Vanishing', visibility: 'public' });
    const fork = await (await gw.request('POST', `/api/v1/repos/${repo.repoId}/forks`, { token: bob.token })).json();
    const grandchild = await (
      await gw.request('POST', `/api/v1/repos/${fork.repoId}/forks`, { token: alice.token, json: { name: 'Grand' } })
    ).json();
    await gw.request('DELETE', `/api/v1/repos/${fork.repoId}`, { token: bob.token });
    await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token });

    const ids = (list: { repoId: string }[]) => list.map((r) => r.repoId);
    const mine = await (await gw.request('GET', '/api/v1/repos?limit=100', { token: alice.token })).json();
    expect(ids(mine.repos)).not.toContain(repo.repoId);
    expect(ids(mine.repos)).toContain(grandchild.repoId);
    const users = await (await gw.request('GET', '/api/v1/users/alice/repos?limit=100')).json();
    expect(ids(users.repos)).not.toContain(repo.repoId);
    await expectRepo404(await gw.request('GET', `/api/v1/users/alice/repos/${repo.slug}`));

    // The grandchild is live; its parent (bob's fork) is deleted, so it shows no parent.
    const g = await (await gw.request('GET', `/api/v1/repos/${grandchild.repoId}`)).json();
    expect(g.forkParentId).toBeNull();
    const sitemap = await (await gw.request('GET', '/sitemap.xml')).text();
    expect(sitemap).not.toContain(`/alice/${repo.slug}<`);
    expect(sitemap).not.toContain(`/alice/${repo.slug}/`);
    expect(sitemap).toContain(`/alice/${grandchild.slug}<`);
  });

  test('the fork tree of a live repo lists a live grandchild through a deleted fork', async () => {
    const root = await createRepo(gw, alice.token, { name: 'Root', visibility: 'public' });
    const mid = await (await gw.request('POST', `/api/v1/repos/${root.repoId}/forks`, { token: bob.token })).json();
    const leaf = await (
      await gw.request('POST', `/api/v1/repos/${mid.repoId}/forks`, { token: alice.token, json: { name: 'Leaf' } })
    ).json();
    await gw.request('DELETE', `/api/v1/repos/${mid.repoId}`, { token: bob.token });
    const flat = await (await gw.request('GET', `/api/v1/repos/${root.repoId}/forks?flat=true`)).json();
    expect(flat.forks.map((r: { repoId: string }) => r.repoId)).toEqual([leaf.repoId]);
    const direct = await (await gw.request('GET', `/api/v1/repos/${root.repoId}/forks`)).json();
    expect(direct.forks).toEqual([]);
  });
});

describe('restore', () => {
  test('revives exactly the rows the delete stamped; an earlier author-deleted comment stays deleted', async () => {
    const { repo, withdrawnCommentId } = await populatedRepo();
    const before = await rowsOf(repo.repoId);
    await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token });
    const res = await gw.request('POST', `/api/v1/repos/${repo.repoId}/restore`, { token: alice.token });
    expect(res.status).toBe(200);
    expect((await res.json()).repoId).toBe(repo.repoId);
    expect(await rowsOf(repo.repoId)).toEqual(before);
    const comments = await (
      await gw.request('GET', `/api/v1/repos/${repo.repoId}/issues/2/comments`, { token: alice.token })
    ).json();
    expect(comments.comments.map((c: { commentId: string }) => c.commentId)).not.toContain(withdrawnCommentId);
    const actions = await sql(
      gw.databaseUrl,
      'SELECT action FROM musehub_audit_events WHERE repo_id = $1 ORDER BY occurred_at',
      [repo.repoId],
    );
    expect(actions.map((a) => a.action)).toEqual(['repo.delete', 'repo.restore']);
    expect(
      (await gw.request('GET', `/api/v1/repos/${repo.repoId}/issues?state=all`, { token: alice.token })).status,
    ).toBe(200);
  });

  // Found by the soak: a delete committing right after a restore made the restore's own answer
  // a 500 (its fresh read of the row went through the live filter and found nothing).
  test('regression: a restore racing a delete answers 200 with the repo, never 500', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Flip flop', visibility: 'public' });
    const api = `/api/v1/repos/${repo.repoId}`;
    for (let round = 0; round < 25; round++) {
      expect((await gw.request('DELETE', api, { token: alice.token })).status).toBe(204);
      const [restored, deleted] = await Promise.all([
        gw.request('POST', `${api}/restore`, { token: alice.token }),
        gw.request('DELETE', api, { token: alice.token }),
      ]);
      expect(restored.status, `round ${round}`).toBe(200);
      expect((await restored.json()).repoId).toBe(repo.repoId);
      expect(deleted.status, `round ${round}`).toBe(204);
    }
  });

  test('restoring a live repo is a 409 repo_not_deleted and changes nothing (issue 27)', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Never gone', visibility: 'public' });
    for (const path of [`/api/v1/repos/${repo.repoId}/restore`, `/api/v1/users/alice/repos/${repo.slug}/restore`]) {
      const res = await gw.request('POST', path, { token: alice.token });
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({
        code: 'repo_not_deleted',
        detail: `'alice/${repo.slug}' is not deleted: there is nothing to restore`,
      });
    }
    const events = await sql(gw.databaseUrl, 'SELECT action FROM musehub_audit_events WHERE repo_id = $1', [
      repo.repoId,
    ]);
    expect(events).toEqual([]);
  });

  test('name reuse: after a delete the owner creates a new repo with the same name; restore of the old one is then 409', async () => {
    const old = await createRepo(gw, alice.token, { name: 'Reused', visibility: 'public' });
    await gw.request('DELETE', `/api/v1/repos/${old.repoId}`, { token: alice.token });
    const fresh = await createRepo(gw, alice.token, { name: 'Reused', visibility: 'public' });
    expect(fresh.slug).toBe(old.slug);
    expect(fresh.repoId).not.toBe(old.repoId);
    const byName = await (await gw.request('GET', `/api/v1/users/alice/repos/${old.slug}`)).json();
    expect(byName.repoId).toBe(fresh.repoId);
    expect((await wire(gw, 'GET', `/alice/${old.slug}/refs`)).body.repo_id).toBe(fresh.repoId);
    const conflict = await gw.request('POST', `/api/v1/repos/${old.repoId}/restore`, { token: alice.token });
    expect(conflict.status).toBe(409);
    const body = await conflict.json();
    expect(body.code).toBe('repo_name_taken');
    // Advice the owner can follow: the rename that frees the name.
    expect(body.detail).toContain(`musehub repo rename alice/${old.slug} <new-name>`);
  });
});

describe('transport after delete', () => {
  test('refs, push, fetch and clone answer 404 over the wire protocol; objects stop being served', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Wire Gone', visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const { snapshot, objects } = makeSnapshot({ 'x.bin': Buffer.from('only here: wire gone') });
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
    expect((await pushAll(gw, remote, alice.token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(
      200,
    );
    expect((await wire(gw, 'GET', `${remote}/refs`)).status).toBe(200); // warm the liveness cache
    expect((await fetch(`${gw.url}/o/${objects[0]!.object_id}`)).status).toBe(200);

    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token })).status).toBe(204);
    const body = '{"detail":"repo not found","code":"repo_not_found"}';
    for (const [method, path, payload, token] of [
      ['GET', `${remote}/refs`, undefined, undefined],
      ['POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] }, undefined],
      ['POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] }, alice.token],
      [
        'POST',
        `${remote}/push`,
        { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
        alice.token,
      ],
      ['POST', `${remote}/push/objects`, { objects }, alice.token],
      ['POST', `${remote}/filter-objects`, { object_ids: [objects[0]!.object_id] }, alice.token],
    ] as const) {
      const res = await wire(gw, method, path, payload, { token });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.raw.toString()).toBe(body);
    }
    expect((await fetch(`${gw.url}/o/${objects[0]!.object_id}`)).status).toBe(404);
  });

  test('a signed upload URL issued before the delete stores nothing after it', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Signed Then Gone', visibility: 'public' });
    const big = makeSnapshot({ 'big.bin': Buffer.alloc(70 * 1024, 3) }).objects[0]!;
    const presign = await wire(
      gw,
      'POST',
      `/alice/${repo.slug}/presign`,
      { object_ids: [big.object_id], direction: 'put' },
      { token: alice.token },
    );
    const url = presign.body.presigned[big.object_id] as string;
    await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token: alice.token });
    const res = await fetch(url, { method: 'PUT', body: big.content });
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"detail":"repo not found","code":"repo_not_found"}');
    const rows = await sql(gw.databaseUrl, 'SELECT count(*)::int AS n FROM musehub_objects WHERE repo_id = $1', [
      repo.repoId,
    ]);
    expect(rows).toEqual([{ n: 0 }]);
  });
});
