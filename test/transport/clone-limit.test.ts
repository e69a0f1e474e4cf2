import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeObject, makeSnapshot, type WireObject, wire } from '../helpers/muse.ts';

/**
 * A clone is one fetch of a head's whole history, and the muse client reads at most 64 MiB of
 * a response: a push that would leave a branch needing more is refused, so no push can make a
 * repo unclonable. MUSEHUB_MAX_CLONE_BYTES is the limit (63 MiB by default; 0 = no check).
 */
const MiB = 1024 * 1024;
const gateways: TestGateway[] = [];
afterAll(() => Promise.all(gateways.map((g) => g.close())));

async function setup(env: Record<string, string> = {}) {
  const gw = await startTestGateway(env);
  gateways.push(gw);
  const { token } = await gw.user('alice');
  const repo = await createRepo(gw, token, { visibility: 'public' });
  return { gw, token, remote: `/alice/${repo.slug}` };
}

/** Uploads objects one request each (the whole set may be larger than one request body). */
async function upload(gw: TestGateway, remote: string, token: string, objects: WireObject[]) {
  for (const o of objects) {
    const res = await wire(gw, 'POST', `${remote}/push/objects`, { objects: [o] }, { token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
}

const files = (count: number, bytes: number, prefix: string) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}.wav`, randomBytes(bytes)]));

const push = (gw: TestGateway, remote: string, token: string, commit: object, snapshot: object) =>
  wire(
    gw,
    'POST',
    `${remote}/push`,
    { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
    { token },
  );

const clone = (gw: TestGateway, remote: string, want: string, have: string[] = []) =>
  wire(gw, 'POST', `${remote}/fetch`, { want: [want], have });

describe('with the default limit', () => {
  let ctx: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    ctx = await setup();
  });

  test('a head just under the limit is accepted and clones; one that would need more is refused and changes nothing', async () => {
    const { gw, token, remote } = ctx;
    const base = makeSnapshot(files(6, 10 * MiB, 'take'));
    await upload(gw, remote, token, base.objects);
    const first = makeCommit({ snapshotId: base.snapshot.snapshot_id });
    expect((await push(gw, remote, token, first, base.snapshot)).status).toBe(200);
    const cloned = await clone(gw, remote, first.commit_id);
    expect(cloned.status).toBe(200);
    expect(cloned.raw.length).toBeGreaterThan(60 * MiB);
    expect(cloned.raw.length).toBeLessThan(64 * MiB);
    expect(cloned.body.objects.map((o: WireObject) => o.object_id).sort()).toEqual(
      base.objects.map((o) => o.object_id).sort(),
    );

    // 4 MiB more takes the clone past 63 MiB.
    const more = makeSnapshot({
      ...Object.fromEntries(base.objects.map((o, i) => [`take${i}.wav`, o.content])),
      ...files(1, 4 * MiB, 'extra'),
    });
    await upload(gw, remote, token, more.objects.slice(-1));
    const before = await gw.fingerprint();
    const second = makeCommit({ snapshotId: more.snapshot.snapshot_id, parent: first.commit_id });
    const refused = await push(gw, remote, token, second, more.snapshot);
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('clone_too_large');
    expect(refused.body.detail).toMatch(
      /'main' need a 64\.\d MiB response to clone, over this hub's limit of 63\.0 MiB/,
    );
    expect(await gw.fingerprint()).toBe(before);
    expect((await wire(gw, 'GET', `${remote}/refs`)).body.branch_heads).toEqual({ main: first.commit_id });
    expect((await clone(gw, remote, first.commit_id)).status).toBe(200);
    await gw.expectIntegrity();
  });
});

describe('with the check off (MUSEHUB_MAX_CLONE_BYTES=0)', () => {
  test('fetch says the true thing: a clone over the client limit cannot be split; an incremental fetch can', async () => {
    const { gw, token, remote } = await setup({ MUSEHUB_MAX_CLONE_BYTES: '0' });
    const small = makeSnapshot({ 'a.txt': 'small' });
    await upload(gw, remote, token, small.objects);
    const first = makeCommit({ snapshotId: small.snapshot.snapshot_id });
    expect((await push(gw, remote, token, first, small.snapshot)).status).toBe(200);
    const big = makeSnapshot(files(7, 10 * MiB, 'stem'));
    await upload(gw, remote, token, big.objects);
    const second = makeCommit({ snapshotId: big.snapshot.snapshot_id, parent: first.commit_id });
    expect((await push(gw, remote, token, second, big.snapshot)).status).toBe(200);

    const cloned = await clone(gw, remote, second.commit_id);
    expect(cloned.status).toBe(422);
    expect(cloned.body.detail).toMatch(
      /^cloning this commit needs a 70\.\d MiB response, over the muse client's 64 MiB response limit; a clone is one response and cannot be split/,
    );
    // The repo as a whole is over the limit, but a clone of the first commit is small: it is
    // measured exactly rather than refused by the repo's size.
    const older = await clone(gw, remote, first.commit_id);
    expect(older.status).toBe(200);
    expect(older.body.objects.map((o: WireObject) => o.object_id)).toEqual([small.objects[0]!.object_id]);
    const fetched = await clone(gw, remote, second.commit_id, [first.commit_id]);
    expect(fetched.status).toBe(422);
    expect(fetched.body.detail).toMatch(/^this fetch would return 70\.\d MiB.*fetch fewer commits at a time/);
  });
});

describe('with a small limit', () => {
  test('the limit counts the whole history, and no object larger than the limit is accepted or presigned', async () => {
    const { gw, token, remote } = await setup({ MUSEHUB_MAX_CLONE_BYTES: '300000' });
    const base = makeSnapshot({ 'a.bin': randomBytes(140_000), 'b.bin': randomBytes(140_000) });
    await upload(gw, remote, token, base.objects);
    const first = makeCommit({ snapshotId: base.snapshot.snapshot_id });
    expect((await push(gw, remote, token, first, base.snapshot)).status).toBe(200);
    // The next head drops b.bin but a clone still carries it: the history is what counts.
    const next = makeSnapshot({ 'a.bin': base.objects[0]!.content, 'c.bin': randomBytes(30_000) });
    await upload(gw, remote, token, next.objects.slice(1));
    const second = makeCommit({ snapshotId: next.snapshot.snapshot_id, parent: first.commit_id });
    const refused = await push(gw, remote, token, second, next.snapshot);
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toMatch(/over this hub's limit of 0\.3 MiB/);

    const one = makeObject(randomBytes(300_000));
    const res = await wire(gw, 'POST', `${remote}/push/objects`, { objects: [one] }, { token });
    expect(res.status).toBe(413);
    expect(res.body.detail).toMatch(/the limit is 298976/);
    const presigned = await wire(
      gw,
      'POST',
      `${remote}/presign`,
      { object_ids: [one.object_id], direction: 'put' },
      { token },
    );
    expect(new URL(presigned.body.presigned[one.object_id]).searchParams.get('max')).toBe('298976');
  });
});
