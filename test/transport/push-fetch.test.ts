import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { addCollaborator, createRepo } from '../helpers/builders.ts';
import { countRows } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, type WireObject, wire } from '../helpers/muse.ts';

type U = { token: string; userId: string; username: string };
let gw: TestGateway;
let alice: U;

beforeAll(async () => {
  gw = await startTestGateway({ LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' });
  alice = await gw.user('alice');
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

/** Three commits on main, each adding a binary file, as a local muse repo would hold them. */
function history(n = 3) {
  const commits = [];
  const snapshots = [];
  const objects: WireObject[] = [];
  const files: Record<string, Buffer> = { 'README.md': Buffer.from('# song\n') };
  let parent: string | null = null;
  for (let i = 0; i < n; i++) {
    files[`stems/take-${i}.wav`] = randomBytes(3000 + i);
    const { snapshot, objects: objs } = makeSnapshot({ ...files });
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id, parent, message: `take ${i}` });
    commits.push(commit);
    snapshots.push(snapshot);
    objects.push(...objs);
    parent = commit.commit_id;
  }
  return { commits, snapshots, objects: [...new Map(objects.map((o) => [o.object_id, o])).values()] };
}

async function clone(remote: string, token?: string) {
  const refs = await wire(gw, 'GET', `${remote}/refs`, undefined, { token });
  expect(refs.status).toBe(200);
  const want = Object.values(refs.body.branch_heads) as string[];
  const fetched = await wire(gw, 'POST', `${remote}/fetch`, { want, have: [] }, { token });
  expect(fetched.status).toBe(200);
  return { refs: refs.body, ...fetched.body };
}

describe('round trip', () => {
  test('push three commits with binary objects, clone into nothing: bytes and records identical', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Round Trip', visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const empty = await wire(gw, 'GET', `${remote}/refs`);
    expect(empty.body).toEqual({ repo_id: repo.repoId, domain: 'code', default_branch: 'main', branch_heads: {} });

    const h = history(3);
    const pushed = await pushAll(gw, remote, alice.token, h, { branch: 'main' });
    expect(pushed.status).toBe(200);
    const head = h.commits[2]!.commit_id;
    expect(pushed.body).toEqual({
      ok: true,
      message: "pushed 3 commit(s) to 'main'",
      branch_heads: { main: head },
      remote_head: head,
    });

    // Anonymous clone of a public repo, as `muse clone` does it.
    const cloned = await clone(remote);
    expect(cloned.refs.branch_heads).toEqual({ main: head });
    expect(
      cloned.commits.sort((a: { commit_id: string }, b: { commit_id: string }) =>
        a.commit_id.localeCompare(b.commit_id),
      ),
    ).toEqual([...h.commits].sort((a, b) => a.commit_id.localeCompare(b.commit_id)));
    expect(cloned.snapshots.length).toBe(3);
    const got = new Map<string, Buffer>(cloned.objects.map((o: WireObject) => [o.object_id, Buffer.from(o.content)]));
    expect(got.size).toBe(h.objects.length);
    for (const o of h.objects) expect(got.get(o.object_id)?.equals(o.content)).toBe(true);
  });

  test('unknown commit keys survive; the commit record comes back unchanged', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const { snapshot, objects } = makeSnapshot({ 'a.txt': 'a' });
    const commit = makeCommit({
      snapshotId: snapshot.snapshot_id,
      extra: { future_field: { nested: [1, 2.5, 'x', null] }, big: 2 ** 40 },
    });
    expect(
      (await pushAll(gw, `/alice/${repo.slug}`, alice.token, { commits: [commit], snapshots: [snapshot], objects }))
        .status,
    ).toBe(200);
    const cloned = await clone(`/alice/${repo.slug}`);
    expect(cloned.commits).toEqual([commit]);
  });

  test('incremental push uploads only missing objects; pull after it negotiates and fetches the new commit', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const h = history(4);
    const first = {
      commits: h.commits.slice(0, 2),
      snapshots: h.snapshots.slice(0, 2),
      objects: h.objects.slice(0, 3),
    };
    expect((await pushAll(gw, remote, alice.token, first)).status).toBe(200);

    const filter = await wire(
      gw,
      'POST',
      `${remote}/filter-objects`,
      { object_ids: h.objects.map((o) => o.object_id) },
      { token: alice.token },
    );
    expect(filter.body.missing).toEqual(h.objects.slice(3).map((o) => o.object_id));
    expect(
      (
        await pushAll(gw, remote, alice.token, {
          commits: h.commits.slice(2),
          snapshots: h.snapshots.slice(2),
          objects: h.objects,
        })
      ).status,
    ).toBe(200);

    // The clone holds the first two commits: negotiate, then fetch with have = ack.
    const want = [h.commits[3]!.commit_id];
    const have = [h.commits[1]!.commit_id, h.commits[0]!.commit_id];
    const neg = await wire(gw, 'POST', `${remote}/negotiate`, { want, have }, { token: alice.token });
    expect(neg.body).toEqual({ ack: have, common_base: h.commits[1]!.commit_id, ready: true });
    const pull = await wire(gw, 'POST', `${remote}/fetch`, { want, have: neg.body.ack }, { token: alice.token });
    expect(pull.body.commits.map((c: { commit_id: string }) => c.commit_id).sort()).toEqual(
      [h.commits[2]!.commit_id, h.commits[3]!.commit_id].sort(),
    );
    // Only objects the held snapshots did not already name.
    expect(pull.body.objects.map((o: WireObject) => o.object_id).sort()).toEqual(
      h.objects
        .slice(3)
        .map((o) => o.object_id)
        .sort(),
    );
  });

  test('a merge history: fetch walks both parents once, newest first, and stops at what the client has', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Merges', visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    //   root ← a1 ← a2 ←┐
    //      ↖ b1 ← b2 ←── merge ← tip
    const s = (name: string) => makeSnapshot({ [`${name}.txt`]: name });
    const snaps = Object.fromEntries(['root', 'a1', 'a2', 'b1', 'b2', 'merge', 'tip'].map((n) => [n, s(n)]));
    const root = makeCommit({ snapshotId: snaps.root!.snapshot.snapshot_id });
    const a1 = makeCommit({ snapshotId: snaps.a1!.snapshot.snapshot_id, parent: root.commit_id });
    const a2 = makeCommit({ snapshotId: snaps.a2!.snapshot.snapshot_id, parent: a1.commit_id });
    const b1 = makeCommit({ snapshotId: snaps.b1!.snapshot.snapshot_id, parent: root.commit_id });
    const b2 = makeCommit({ snapshotId: snaps.b2!.snapshot.snapshot_id, parent: b1.commit_id });
    const merge = makeCommit({
      snapshotId: snaps.merge!.snapshot.snapshot_id,
      parent: a2.commit_id,
      parent2: b2.commit_id,
    });
    const tip = makeCommit({ snapshotId: snaps.tip!.snapshot.snapshot_id, parent: merge.commit_id });
    const all = [root, a1, a2, b1, b2, merge, tip];
    const bundle = {
      commits: all,
      snapshots: Object.values(snaps).map((x) => x.snapshot),
      objects: Object.values(snaps).flatMap((x) => x.objects),
    };
    expect((await pushAll(gw, remote, alice.token, bundle)).status).toBe(200);

    const ids = (body: { commits: { commit_id: string }[] }) => body.commits.map((c) => c.commit_id);
    const clone = await wire(gw, 'POST', `${remote}/fetch`, { want: [tip.commit_id], have: [] });
    expect(clone.status).toBe(200);
    expect(ids(clone.body)).toHaveLength(7);
    expect(new Set(ids(clone.body))).toEqual(new Set(all.map((c) => c.commit_id)));
    expect(ids(clone.body).slice(0, 2)).toEqual([tip.commit_id, merge.commit_id]);
    expect(ids(clone.body).at(-1)).toBe(root.commit_id);

    // The client has the a-branch: only the b-branch, the merge and the tip come back.
    const pull = await wire(gw, 'POST', `${remote}/fetch`, {
      want: [tip.commit_id],
      have: [root.commit_id, a1.commit_id, a2.commit_id],
    });
    expect(new Set(ids(pull.body))).toEqual(new Set([b1, b2, merge, tip].map((c) => c.commit_id)));
    const sent = new Set(pull.body.objects.map((o: { object_id: string }) => o.object_id));
    for (const o of snaps.a2!.objects) expect(sent.has(o.object_id)).toBe(false);
    for (const o of snaps.b1!.objects) expect(sent.has(o.object_id)).toBe(true);

    const unknown = await wire(gw, 'POST', `${remote}/fetch`, { want: ['e'.repeat(64)], have: [] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('unknown_commit');
  });

  test('a JSON client gets JSON with base64 content: every commit, snapshot and object, byte for byte', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const h = history(4);
    await pushAll(gw, `/alice/${repo.slug}`, alice.token, h);
    const res = await fetch(`${gw.url}/alice/${repo.slug}/fetch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ want: [h.commits.at(-1)!.commit_id], have: [] }),
    });
    expect(res.headers.get('content-type')).toMatch(/json/);
    const body = await res.json();
    expect(body.commits.map((c: { commit_id: string }) => c.commit_id).sort()).toEqual(
      h.commits.map((c) => c.commit_id).sort(),
    );
    expect(body.snapshots.map((x: { snapshot_id: string }) => x.snapshot_id).sort()).toEqual(
      h.snapshots.map((x) => x.snapshot_id).sort(),
    );
    expect(h.objects.length).toBeGreaterThan(4);
    const sent = new Map<string, Buffer>(
      body.objects.map((o: { object_id: string; content: string }) => [o.object_id, Buffer.from(o.content, 'base64')]),
    );
    expect(body.objects).toHaveLength(h.objects.length); // each object once
    for (const o of h.objects) expect(sent.get(o.object_id)?.equals(o.content), o.object_id).toBe(true);
    const refs = await fetch(`${gw.url}/alice/${repo.slug}/refs`);
    expect(refs.headers.get('content-type')).toMatch(/json/);
  });
});

describe('fast-forward rule and concurrency', () => {
  test('a non-fast-forward push is 409 with the client-facing detail; force overrides', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const base = history(1);
    await pushAll(gw, remote, alice.token, base);
    const mk = (msg: string) => {
      const { snapshot, objects } = makeSnapshot({ [`${msg}.txt`]: msg });
      return {
        commits: [makeCommit({ snapshotId: snapshot.snapshot_id, parent: base.commits[0]!.commit_id, message: msg })],
        snapshots: [snapshot],
        objects,
      };
    };
    const ours = mk('ours');
    const theirs = mk('theirs');
    expect((await pushAll(gw, remote, alice.token, ours)).status).toBe(200);
    const rejected = await pushAll(gw, remote, alice.token, theirs);
    expect(rejected.status).toBe(409);
    expect(rejected.body).toEqual({
      detail: "non-fast-forward push to 'main' — use force=true to overwrite",
      code: 'non_fast_forward',
    });
    expect((await wire(gw, 'GET', `${remote}/refs`)).body.branch_heads.main).toBe(ours.commits[0]!.commit_id);
    const forced = await pushAll(gw, remote, alice.token, theirs, { force: true });
    expect(forced.status).toBe(200);
    expect(forced.body.branch_heads.main).toBe(theirs.commits[0]!.commit_id);
  });

  test('20 parallel pushes racing on one branch: a consistent head and no lost commits', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const base = history(1);
    await pushAll(gw, remote, alice.token, base);
    // Each racer extends the same base: exactly one can fast-forward first; the rest diverge.
    const racers = Array.from({ length: 20 }, (_, i) => {
      const { snapshot, objects } = makeSnapshot({ [`r${i}.txt`]: `racer ${i}` });
      return {
        commits: [makeCommit({ snapshotId: snapshot.snapshot_id, parent: base.commits[0]!.commit_id })],
        snapshots: [snapshot],
        objects,
      };
    });
    const results = await Promise.all(racers.map((r) => pushAll(gw, remote, alice.token, r)));
    const statuses = results.map((r) => r.status);
    const odd = results
      .filter((r) => r.status !== 200 && r.status !== 409)
      .map((r) => `${r.status} ${JSON.stringify(r.body)}`);
    expect(odd).toEqual([]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const winner = racers[statuses.indexOf(200)]!.commits[0]!.commit_id;
    expect((await wire(gw, 'GET', `${remote}/refs`)).body.branch_heads.main).toBe(winner);
    // A refused push is rolled back whole: only the base and the winner are stored.
    expect(await countRows(gw.databaseUrl, 'musehub_commits', repo.repoId)).toBe(2);
    expect(await countRows(gw.databaseUrl, 'musehub_snapshots', repo.repoId)).toBe(2);
  });

  test('20 parallel pushes that each build on the last: all land in order, none lost', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const h = history(20);
    // All objects first, then every prefix pushed at once: each is a fast-forward of the shorter ones.
    await wire(gw, 'POST', `${remote}/push/objects`, { objects: h.objects }, { token: alice.token });
    const results = await Promise.all(
      h.commits.map((_, i) =>
        wire(
          gw,
          'POST',
          `${remote}/push`,
          {
            bundle: { commits: h.commits.slice(0, i + 1), snapshots: h.snapshots.slice(0, i + 1), objects: [] },
            branch: 'main',
            force: false,
          },
          { token: alice.token },
        ),
      ),
    );
    // A push of a shorter prefix that arrives after a longer one is behind: 409, never a rewind.
    // The whole history is a fast-forward of anything already there, so it always lands, and
    // it is the head at the end whatever order the others ran in.
    for (const r of results) expect([200, 409]).toContain(r.status);
    const tip = h.commits.at(-1)!.commit_id;
    expect(results.at(-1)!.status).toBe(200);
    expect(results.at(-1)!.body.remote_head).toBe(tip);
    expect((await wire(gw, 'GET', `${remote}/refs`)).body.branch_heads.main).toBe(tip);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.code).toBe('non_fast_forward');
    expect(await countRows(gw.databaseUrl, 'musehub_commits', repo.repoId)).toBe(20);

    // An older head pushed later without force is refused and the head stays.
    for (const bundle of [
      { commits: h.commits.slice(0, 5), snapshots: h.snapshots.slice(0, 5), objects: [] },
      { commits: [], snapshots: [], objects: [], branch_heads: { main: h.commits[4]!.commit_id } },
    ]) {
      const older = await wire(
        gw,
        'POST',
        `${remote}/push`,
        { bundle, branch: 'main', force: false },
        { token: alice.token },
      );
      expect(older.status).toBe(409);
      expect(older.body.code).toBe('non_fast_forward');
      expect((await wire(gw, 'GET', `${remote}/refs`)).body.branch_heads.main).toBe(tip);
    }
  });

  test('the first push to an empty repo sets its default branch', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const h = history(1);
    h.commits[0]!.branch = 'trunk';
    expect((await pushAll(gw, `/alice/${repo.slug}`, alice.token, h, { branch: 'trunk' })).status).toBe(200);
    const refs = await wire(gw, 'GET', `/alice/${repo.slug}/refs`);
    expect(refs.body).toMatchObject({ default_branch: 'trunk', branch_heads: { trunk: h.commits[0]!.commit_id } });
  });
});

describe('access', () => {
  test('push needs a token (401), write permission (reader 403); invalid token is 401 even on a public read', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const h = history(1);
    const reader = await gw.user('rhea');
    await addCollaborator(gw, alice.token, repo.repoId, 'rhea', 'read');
    const body = { objects: h.objects };
    expect((await wire(gw, 'POST', `${remote}/push/objects`, body)).status).toBe(401);
    const denied = await wire(gw, 'POST', `${remote}/push/objects`, body, { token: reader.token });
    expect(denied.status).toBe(403);
    expect((await wire(gw, 'GET', `${remote}/refs`, undefined, { token: 'mh_bogus' })).status).toBe(401);
    const writer = await gw.user('wes');
    await addCollaborator(gw, alice.token, repo.repoId, 'wes', 'write');
    expect((await pushAll(gw, remote, writer.token, h)).status).toBe(200);
  });

  test('a private repo is the same 404 to a stranger and to anonymous on every transport endpoint, /o/ included', async () => {
    const repo = await createRepo(gw, alice.token, { name: 'Private Tapes' });
    const remote = `/alice/${repo.slug}`;
    const h = history(1);
    expect((await pushAll(gw, remote, alice.token, h)).status).toBe(200);
    const stranger = await gw.user('stan');
    // A blob only this repo holds (README.md's bytes are also in public repos, and are served from those).
    const secret = h.objects.find((o) => o.content.length > 1000)!;
    const id = secret.object_id;
    const calls: ['GET' | 'POST', string, unknown?][] = [
      ['GET', `${remote}/refs`],
      ['POST', `${remote}/filter-objects`, { object_ids: [id] }],
      ['POST', `${remote}/push/objects`, { objects: h.objects }],
      [
        'POST',
        `${remote}/push`,
        { bundle: { commits: h.commits, snapshots: h.snapshots, objects: [] }, branch: 'main', force: false },
      ],
      ['POST', `${remote}/negotiate`, { want: [h.commits[0]!.commit_id], have: [] }],
      ['POST', `${remote}/fetch`, { want: [h.commits[0]!.commit_id], have: [] }],
      ['POST', `${remote}/presign`, { object_ids: [id], direction: 'put' }],
      ['POST', '/alice/never-existed/fetch', { want: [h.commits[0]!.commit_id], have: [] }],
    ];
    for (const [method, path, body] of calls) {
      for (const token of [stranger.token, undefined]) {
        const res = await wire(gw, method, path, body, { token });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.raw.toString()).toBe('{"detail":"repo not found","code":"repo_not_found"}');
      }
    }
    expect((await fetch(`${gw.url}/o/${id}`, { headers: { authorization: `Bearer ${stranger.token}` } })).status).toBe(
      404,
    );
    expect((await fetch(`${gw.url}/o/${id}`)).status).toBe(404);
    const own = await fetch(`${gw.url}/o/${id}`, { headers: { authorization: `Bearer ${alice.token}` } });
    expect(own.status).toBe(200);
    expect(own.headers.get('cache-control')).toBe('private, no-cache');
    expect(Buffer.from(await own.arrayBuffer()).equals(secret.content)).toBe(true);
  });

  test('/o/ serves a public object with an ETag and a short public cache; 304 on a match', async () => {
    const repo = await createRepo(gw, alice.token, { visibility: 'public' });
    const h = history(1);
    await pushAll(gw, `/alice/${repo.slug}`, alice.token, h);
    const id = h.objects[0]!.object_id;
    const res = await fetch(`${gw.url}/o/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${id}"`);
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
    await res.arrayBuffer();
    expect((await fetch(`${gw.url}/o/${id}`, { headers: { 'if-none-match': `"${id}"` } })).status).toBe(304);
    expect((await fetch(`${gw.url}/o/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${gw.url}/o/../../etc/passwd`)).status).toBe(404);
  });
});
