import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { loadPresignKey, presignedPutUrl } from '../../src/transport/presign.ts';
import { addCollaborator, createRepo, REPO_404, type RepoBody } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeObject, makeSnapshot, wire } from '../helpers/muse.ts';

let gw: TestGateway;
let token: string;
let aliceId: string;
let repo: RepoBody;
let remote: string;

beforeAll(async () => {
  // Its webhooks point at loopback (port 9, nothing listens), which the default policy refuses.
  gw = await startTestGateway({ MUSEHUB_WEBHOOK_ALLOWED_HOSTS: 'loopback' });
  ({ token, userId: aliceId } = await gw.user('alice'));
  repo = await createRepo(gw, token, { visibility: 'public' });
  remote = `/alice/${repo.slug}`;
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const put = (url: string, body: Uint8Array) => fetch(url, { method: 'PUT', body });

test('an object over 64 KiB goes through a signed URL (no Authorization), then a push and a clone use it', async () => {
  const big = makeObject(randomBytes(200 * 1024));
  const presign = await wire(
    gw,
    'POST',
    `${remote}/presign`,
    { object_ids: [big.object_id], direction: 'put' },
    { token },
  );
  expect(presign.status).toBe(200);
  expect(presign.body.inline).toEqual([]);
  const url = presign.body.presigned[big.object_id] as string;
  expect(url.startsWith(`${gw.url}/presigned/${repo.repoId}/${big.object_id}?`)).toBe(true);

  const res = await put(url, big.content);
  expect(res.status).toBe(200);
  expect(
    (await wire(gw, 'POST', `${remote}/filter-objects`, { object_ids: [big.object_id] }, { token })).body.missing,
  ).toEqual([]);

  const snapshot = {
    snapshot_id: 'f'.repeat(64),
    manifest: { 'take.wav': big.object_id },
    created_at: new Date().toISOString(),
  };
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  const pushed = await wire(
    gw,
    'POST',
    `${remote}/push`,
    { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
    { token },
  );
  expect(pushed.status).toBe(200);
  const fetched = await wire(gw, 'POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] });
  expect(Buffer.from(fetched.body.objects[0].content).equals(big.content)).toBe(true);
});

test('tampered, swapped, oversized and expired signed URLs are refused and store nothing', async () => {
  const obj = makeObject(randomBytes(70 * 1024));
  const presign = await wire(
    gw,
    'POST',
    `${remote}/presign`,
    { object_ids: [obj.object_id], direction: 'put' },
    { token },
  );
  const url = new URL(presign.body.presigned[obj.object_id]);
  const otherRepo = await createRepo(gw, token, { visibility: 'public' });
  // Every table and every object file, as they are now.
  const before = await gw.fingerprint();

  const badSig = new URL(url);
  badSig.searchParams.set('sig', `${url.searchParams.get('sig')!.slice(0, -2)}AA`);
  expect((await put(badSig.toString(), obj.content)).status).toBe(403);

  const biggerLimit = new URL(url);
  biggerLimit.searchParams.set('max', String(10 ** 9));
  expect((await put(biggerLimit.toString(), obj.content)).status).toBe(403);

  const other = makeObject('another object');
  const swapped = new URL(url.toString().replace(obj.object_id, other.object_id));
  expect((await put(swapped.toString(), other.content)).status).toBe(403);

  const moved = new URL(url.toString().replace(repo.repoId, otherRepo.repoId));
  expect((await put(moved.toString(), obj.content)).status).toBe(403);

  const key = await loadPresignKey(gw.dataDir, undefined);
  const expired = presignedPutUrl(gw.url, key, {
    repoId: repo.repoId,
    objectId: obj.object_id,
    maxBytes: 10 ** 8,
    expires: Math.floor(Date.now() / 1000) - 5,
    userId: aliceId,
  });
  const expiredRes = await put(expired, obj.content);
  expect(expiredRes.status).toBe(403);
  expect((await expiredRes.json()).detail).toMatch(/expired/);

  const small = presignedPutUrl(gw.url, key, {
    repoId: repo.repoId,
    objectId: obj.object_id,
    maxBytes: 1024,
    expires: Math.floor(Date.now() / 1000) + 60,
    userId: aliceId,
  });
  expect((await put(small, obj.content)).status).toBe(413);

  // A valid URL with the wrong bytes: the hash is checked while streaming.
  const wrong = await put(url.toString(), randomBytes(70 * 1024));
  expect(wrong.status).toBe(422);

  expect(await gw.fingerprint()).toBe(before);
  // In so many words: no file of the object's bytes (finished or temporary) is on disk.
  const files = await fs.readdir(path.join(gw.dataDir, 'objects'), { recursive: true });
  expect(files.filter((f) => f.replaceAll('/', '').includes(obj.object_id.slice(8)))).toEqual([]);
  expect(files.filter((f) => f.startsWith('tmp/'))).toEqual([]);
});

test('direction get answers everything inline; a reader may not presign uploads', async () => {
  const id = makeObject('x').object_id;
  const get = await wire(gw, 'POST', `${remote}/presign`, { object_ids: [id], direction: 'get' });
  expect(get.body).toEqual({ presigned: {}, inline: [id] });
  const reader = await gw.user('rita');
  await addCollaborator(gw, token, repo.repoId, 'rita', 'read');
  expect(
    (await wire(gw, 'POST', `${remote}/presign`, { object_ids: [id], direction: 'put' }, { token: reader.token }))
      .status,
  ).toBe(403);
  expect((await wire(gw, 'POST', `${remote}/presign`, { object_ids: [id], direction: 'put' })).status).toBe(401);
});

test('a push fires the push webhook event after commit', async () => {
  const { snapshot, objects } = makeSnapshot({ 'n.txt': 'notify' });
  await wire(gw, 'POST', `${remote}/push/objects`, { objects }, { token });
  const hook = await gw.request('POST', `/api/v1/repos/${repo.repoId}/webhooks`, {
    token,
    json: { url: 'http://127.0.0.1:9/unused', events: ['push'], active: true },
  });
  expect(hook.status).toBe(201);
  const refs = await wire(gw, 'GET', `${remote}/refs`);
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id, parent: refs.body.branch_heads.main });
  await wire(
    gw,
    'POST',
    `${remote}/push`,
    { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
    { token },
  );
  const rows = await sql(gw.databaseUrl, 'SELECT event, payload FROM musehub_webhook_deliveries WHERE repo_id = $1', [
    repo.repoId,
  ]);
  expect(rows).toEqual([
    { event: 'push', payload: expect.objectContaining({ branch: 'main', after: commit.commit_id, pusher: 'alice' }) },
  ]);
});

// Regression (issue 23, item 7): a signed upload URL kept working for its remaining lifetime
// after its grantee lost write access.
test('an upload URL dies with its grant: a removed collaborator, or a deleted repo, uploads nothing', async () => {
  const bob = await gw.user('bob-uploader');
  const shared = await createRepo(gw, token, { name: 'shared stems', visibility: 'public' });
  await addCollaborator(gw, token, shared.repoId, 'bob-uploader', 'write');
  const presign = async (who: string, objectId: string) =>
    (
      await wire(
        gw,
        'POST',
        `/alice/${shared.slug}/presign`,
        { object_ids: [objectId], direction: 'put' },
        { token: who },
      )
    ).body.presigned?.[objectId] as string;
  const kept = makeObject(randomBytes(80 * 1024));
  const revoked = makeObject(randomBytes(80 * 1024));
  const keptUrl = await presign(bob.token, kept.object_id);
  const revokedUrl = await presign(bob.token, revoked.object_id);
  expect(new URL(revokedUrl).searchParams.get('u')).toBe(bob.userId);
  expect((await put(keptUrl, kept.content)).status).toBe(200);

  expect(
    (await gw.request('DELETE', `/api/v1/repos/${shared.repoId}/collaborators/bob-uploader`, { token })).status,
  ).toBe(204);
  // Rows of the object anywhere, and its bytes on disk: what an upload would have left.
  const traces = async () => {
    const [row] = await sql<{ n: string }>(
      gw.databaseUrl,
      'SELECT count(*) AS n FROM musehub_objects WHERE object_id = $1',
      [revoked.object_id],
    );
    const files = await fs.readdir(path.join(gw.dataDir, 'objects'), { recursive: true });
    return Number(row!.n) + files.filter((f) => f.replaceAll('/', '').includes(revoked.object_id.slice(8))).length;
  };
  const refused = await put(revokedUrl, revoked.content);
  expect(refused.status).toBe(403);
  // Bob may still read this public repo: a 403 that says why.
  expect(await refused.json()).toEqual({
    detail: 'the signed URL is no longer valid: its user may not write to this repo; ask for a new one with presign',
    code: 'insufficient_permission',
  });
  // The same URL with another user swapped in fails the signature.
  const swapped = new URL(revokedUrl);
  swapped.searchParams.set('u', aliceId);
  expect((await put(swapped.toString(), revoked.content)).status).toBe(403);
  expect(await traces()).toBe(0);

  // The owner's own URL dies with the repo.
  const ownerUrl = await presign(token, revoked.object_id);
  expect((await gw.request('DELETE', `/api/v1/repos/${shared.repoId}`, { token })).status).toBe(204);
  // A deleted repo answers as one that never existed.
  const gone = await put(ownerUrl, revoked.content);
  expect([gone.status, await gone.text()]).toEqual([404, REPO_404]);
  expect(await traces()).toBe(0);
});
