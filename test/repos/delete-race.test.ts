import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createPushedRepo, createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, wire } from '../helpers/muse.ts';
import { eventually } from '../helpers/process.ts';

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_DB_POOL_MAX: '20', MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'loopback' });
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

test('pushes racing a delete: each either committed before the delete or wrote nothing', async () => {
  const repo = await createRepo(gw, token, { name: 'Racing', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  // Every pusher uploads its object first, then pushes its own branch, all at once with the delete.
  const pushes = Array.from({ length: 30 }, (_, i) => {
    const { snapshot, objects } = makeSnapshot({ [`p${i}.txt`]: `pusher ${i}` });
    return {
      branch: `b${i}`,
      commit: makeCommit({ snapshotId: snapshot.snapshot_id, branch: `b${i}` }),
      snapshot,
      objects,
    };
  });
  await wire(gw, 'POST', `${remote}/push/objects`, { objects: pushes.flatMap((p) => p.objects) }, { token });

  const pushing = pushes.map((p, i) =>
    new Promise((r) => setTimeout(r, i * 10)).then(() =>
      wire(
        gw,
        'POST',
        `${remote}/push`,
        { bundle: { commits: [p.commit], snapshots: [p.snapshot], objects: [] }, branch: p.branch, force: false },
        { token },
      ),
    ),
  );
  const deleting = new Promise((r) => setTimeout(r, 100)).then(() =>
    gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token }),
  );
  const [deleted, ...results] = await Promise.all([deleting, ...pushing]);
  expect((deleted as Response).status).toBe(204);

  const statuses = results.map((r) => r.status);
  const odd = results
    .filter((r) => r.status !== 200 && r.status !== 404)
    .map((r) => `${r.status} ${JSON.stringify(r.body)}`);
  expect(odd).toEqual([]);
  const [{ deleted_at }] = (await sql(gw.databaseUrl, 'SELECT deleted_at FROM musehub_repos WHERE repo_id = $1', [
    repo.repoId,
  ])) as [{ deleted_at: Date }];
  const stored = await sql<{ commit_id: string; created_at: Date }>(
    gw.databaseUrl,
    'SELECT commit_id, created_at FROM musehub_commits WHERE repo_id = $1',
    [repo.repoId],
  );
  const branches = await sql<{ name: string }>(gw.databaseUrl, 'SELECT name FROM musehub_branches WHERE repo_id = $1', [
    repo.repoId,
  ]);
  const snapshots = await sql<{ snapshot_id: string }>(
    gw.databaseUrl,
    'SELECT snapshot_id FROM musehub_snapshots WHERE repo_id = $1',
    [repo.repoId],
  );
  const storedIds = new Set(stored.map((c) => c.commit_id));
  const branchNames = new Set(branches.map((b) => b.name));
  const snapshotIds = new Set(snapshots.map((x) => x.snapshot_id));
  results.forEach((res, i) => {
    const p = pushes[i]!;
    // Landed (200): all of its rows exist. Refused (404): not a single one does.
    const landed = res.status === 200;
    expect(storedIds.has(p.commit.commit_id), `push ${i} commit`).toBe(landed);
    expect(snapshotIds.has(p.snapshot.snapshot_id), `push ${i} snapshot`).toBe(landed);
    expect(branchNames.has(p.branch), `push ${i} branch`).toBe(landed);
  });
  expect(stored.length).toBe(statuses.filter((x) => x === 200).length);
  // Everything that landed landed before the delete took the lock.
  for (const c of stored) expect(c.created_at.getTime()).toBeLessThanOrEqual(deleted_at.getTime());
  // The race really happened on this run: some pushes got in, some were refused.
  expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
  expect(statuses.filter((s) => s === 404).length).toBeGreaterThan(0);
  // And after it, the repo is gone for every push.
  const late = await wire(
    gw,
    'POST',
    `${remote}/push`,
    {
      bundle: { commits: [pushes[0]!.commit], snapshots: [pushes[0]!.snapshot], objects: [] },
      branch: 'late',
      force: false,
    },
    { token },
  );
  expect(late.status).toBe(404);
});

test('issues, proposals, comments and webhooks created while the repo is deleted: none survives live (found by the soak)', async () => {
  for (let round = 0; round < 5; round++) {
    const repo = await createRepo(gw, token, { name: `hub race ${round}`, visibility: 'public' });
    const api = `/api/v1/repos/${repo.repoId}`;
    expect((await gw.request('POST', `${api}/issues`, { token, json: { title: 'first' } })).status).toBe(201);
    const creates = Array.from({ length: 24 }, (_, i) => {
      const kind = i % 4;
      if (kind === 0) return gw.request('POST', `${api}/issues`, { token, json: { title: `racer ${i}` } });
      if (kind === 1) return gw.request('POST', `${api}/issues/1/comments`, { token, json: { body: `racer ${i}` } });
      if (kind === 2) {
        return gw.request('POST', `${api}/proposals`, {
          token,
          json: { title: `p${i}`, fromBranch: `f${i}`, toBranch: 'main' },
        });
      }
      return gw.request('POST', `${api}/webhooks`, {
        token,
        json: { url: 'http://127.0.0.1:9/hook', events: ['push'] },
      });
    });
    const [deleted, ...results] = await Promise.all([gw.request('DELETE', api, { token }), ...creates]);
    expect(deleted.status).toBe(204);
    // Each create either landed before the delete (and was tombstoned by it) or saw the repo gone.
    for (const r of results) expect([201, 404]).toContain(r.status);
    const live = await sql<{ n: number }>(
      gw.databaseUrl,
      `SELECT (SELECT count(*) FROM musehub_issues WHERE repo_id = $1 AND deleted_at IS NULL)
            + (SELECT count(*) FROM musehub_issue_comments WHERE repo_id = $1 AND NOT is_deleted)
            + (SELECT count(*) FROM musehub_proposals WHERE repo_id = $1 AND deleted_at IS NULL)
            + (SELECT count(*) FROM musehub_webhooks WHERE repo_id = $1 AND active) AS n`,
      [repo.repoId],
    );
    expect(Number(live[0]!.n)).toBe(0);
  }
});

test('edits racing a delete (issue edits, labels, collaborators, comment deletes): none lands after it', async () => {
  await gw.user('bob');
  for (let round = 0; round < 5; round++) {
    const repo = await createRepo(gw, token, { name: `edit race ${round}`, visibility: 'public' });
    const api = `/api/v1/repos/${repo.repoId}`;
    expect((await gw.request('POST', `${api}/issues`, { token, json: { title: 'first' } })).status).toBe(201);
    const comment = await (await gw.request('POST', `${api}/issues/1/comments`, { token, json: { body: 'c' } })).json();
    const edits = Array.from({ length: 24 }, (_, i) => {
      const kind = i % 4;
      if (kind === 0) return gw.request('PATCH', `${api}/issues/1`, { token, json: { title: `edit ${i}` } });
      if (kind === 1) return gw.request('POST', `${api}/issues/1/labels`, { token, json: { labels: [`l${i}`] } });
      if (kind === 2) return gw.request('PUT', `${api}/collaborators/bob`, { token, json: { permission: 'write' } });
      return gw.request('DELETE', `${api}/issues/1/comments/${comment.commentId}`, { token });
    });
    const [deleted, ...results] = await Promise.all([gw.request('DELETE', api, { token }), ...edits]);
    expect(deleted.status).toBe(204);
    // Each edit either landed before the delete or saw the repo gone.
    for (const r of results) expect([200, 201, 204, 404]).toContain(r.status);
    // Nothing was written under the repo after its delete committed.
    const [late] = await sql<{ labels: number; collaborators: number; issues: number; comments: number }>(
      gw.databaseUrl,
      `SELECT (SELECT count(*) FROM musehub_issue_labels l WHERE l.repo_id = r.repo_id AND l.created_at > r.deleted_at)::int AS labels,
              (SELECT count(*) FROM musehub_collaborators c WHERE c.repo_id = r.repo_id AND c.created_at > r.deleted_at)::int AS collaborators,
              (SELECT count(*) FROM musehub_issues i WHERE i.repo_id = r.repo_id AND i.updated_at > r.deleted_at)::int AS issues,
              (SELECT count(*) FROM musehub_issue_comments m WHERE m.repo_id = r.repo_id AND m.updated_at > r.deleted_at)::int AS comments
         FROM musehub_repos r WHERE r.repo_id = $1`,
      [repo.repoId],
    );
    expect(late).toEqual({ labels: 0, collaborators: 0, issues: 0, comments: 0 });
  }
});

/**
 * The two orders of a push and a delete, each forced with a lock the test holds (no timing):
 * a transaction of the test's own keeps one side waiting at a known point while the other arrives,
 * and pg_stat_activity shows who waits for what before the test lets go.
 */
async function holdLock(statement: string, params: unknown[]) {
  const client = new pg.Client({ connectionString: gw.databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  const { rowCount } = await client.query(statement, params);
  expect(rowCount, statement).toBeGreaterThan(0);
  return async () => {
    await client.query('COMMIT');
    await client.end();
  };
}

/** Backends of this database waiting for a lock of the kind (`advisory`: the repo gate; else any). */
const waiting = async (kind?: 'advisory') =>
  (
    await sql<{ n: number }>(
      gw.databaseUrl,
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND ($1::text IS NULL OR wait_event = $1)`,
      [kind ?? null],
    )
  )[0]!.n;

function settles<T>(p: Promise<T>) {
  const state = { done: false, value: p };
  p.finally(() => {
    state.done = true;
  });
  return state;
}

async function nextPush(name: string) {
  const { repo, remote, head } = await createPushedRepo(gw, token, name);
  await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token, json: { title: 'to be tombstoned' } });
  const { snapshot, objects } = makeSnapshot({ 'a.txt': 'second take' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id, parent: head });
  // The objects first, as the muse client sends them: the push itself is then one transaction.
  expect((await wire(gw, 'POST', `${remote}/push/objects`, { objects }, { token })).status).toBe(200);
  const push = () =>
    wire(
      gw,
      'POST',
      `${remote}/push`,
      { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
      { token },
    );
  const stored = async () =>
    (
      await sql(gw.databaseUrl, 'SELECT 1 FROM musehub_commits WHERE repo_id = $1 AND commit_id = $2', [
        repo.repoId,
        commit.commit_id,
      ])
    ).length === 1;
  return { repo, push, stored };
}

test('a push inside the write gate holds off a delete until it commits; the delete then tombstones the repo with it', async () => {
  const { repo, push, stored } = await nextPush('push first');
  // The push will stop at its branch lock, after it has passed the gate.
  const release = await holdLock('SELECT 1 FROM musehub_branches WHERE repo_id = $1 AND name = $2 FOR UPDATE', [
    repo.repoId,
    'main',
  ]);
  const pushing = settles(push());
  try {
    await eventually(async () => (await waiting()) === 1);
    const deleting = settles(gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token }));
    // The delete queues for the gate the push holds: it cannot commit under the push.
    await eventually(async () => (await waiting('advisory')) === 1);
    expect(deleting.done || pushing.done).toBe(false);
    await release();
    expect((await pushing.value).status).toBe(200);
    expect((await deleting.value).status).toBe(204);
  } finally {
    await release().catch(() => undefined);
  }
  expect(await stored()).toBe(true);
  await expectRepo404(await gw.request('GET', `/api/v1/repos/${repo.repoId}`, { token }));
});

test('a delete holding the repo makes a push that arrives meanwhile wait, then answer the 404 and write nothing', async () => {
  const { repo, push, stored } = await nextPush('delete first');
  // The delete will stop at its cascade over issues, after it has taken the gate and the repo row.
  const release = await holdLock('SELECT 1 FROM musehub_issues WHERE repo_id = $1 FOR UPDATE', [repo.repoId]);
  const deleting = settles(gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token }));
  try {
    await eventually(async () => (await waiting()) === 1);
    const pushing = settles(push());
    // The push queues for the gate the delete holds exclusively.
    await eventually(async () => (await waiting('advisory')) === 1);
    expect(deleting.done || pushing.done).toBe(false);
    await release();
    expect((await deleting.value).status).toBe(204);
    const refused = await pushing.value;
    expect(refused.status).toBe(404);
    expect(refused.body.code).toBe('repo_not_found');
  } finally {
    await release().catch(() => undefined);
  }
  expect(await stored()).toBe(false);
});
