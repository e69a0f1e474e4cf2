import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { checkIntegrity } from '../../src/integrity/fsck.ts';
import { findReclaimable, type Reclaimable } from '../../src/integrity/gc.ts';
import type { FsObjectStore } from '../../src/storage/fs-object-store.ts';
import { createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { s3Client, s3Env, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  makeCommit,
  makeObject,
  makeSnapshot,
  presignPut,
  pushLikeMuse,
  type WireObject,
  wire,
} from '../helpers/muse.ts';

/**
 * The same end-to-end checks for every object store: whatever holds the bytes, a push, a
 * clone, /o/, a presigned upload by a client with no credentials, a refused upload, a deleted
 * repo and fsck behave alike.
 */
type Store = 'filesystem' | 'postgres' | 's3';
const STORES: Store[] = ['filesystem', 'postgres', 's3'];

/** Writes other bytes over an object where the store keeps it, behind the gateway's back. */
async function overwrite(store: Store, gw: TestGateway, env: Record<string, string>, id: string, bytes: Buffer) {
  if (store === 'filesystem') {
    const r = await (gw.store as FsObjectStore).locate(id);
    const file = await fs.open(r.file, 'r+');
    await file.write(bytes, 0, bytes.length, r.offset).finally(() => file.close());
  } else if (store === 'postgres') {
    await sql(gw.databaseUrl, 'UPDATE musehub_object_blobs SET content = $1 WHERE object_id = $2', [bytes, id]);
  } else {
    const s3 = s3Client(env);
    await s3
      .send(
        new PutObjectCommand({
          Bucket: env.MUSEHUB_S3_BUCKET,
          Key: `${env.MUSEHUB_S3_PREFIX}objects/${id}`,
          Body: bytes,
        }),
      )
      .finally(() => s3.destroy());
  }
}

describe.each(STORES)('the %s store', (store) => {
  let env: Record<string, string>;
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    env = store === 's3' ? await s3Env() : { MUSEHUB_OBJECT_STORE: store };
    gw = await startTestGateway(env);
    ({ token } = await gw.user('alice'));
  });
  afterAll(() => gw?.close());
  // Whatever a test did, the invariants (bytes re-hashed included) hold afterwards.
  afterEach(() => gw.expectIntegrity());

  async function pushedRepo(name: string, files: Record<string, Buffer | string>) {
    const repo = await createRepo(gw, token, { name, visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const { snapshot, objects } = makeSnapshot(files);
    const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
    const pushed = await pushLikeMuse(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects });
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
    return { repo, remote, commit, objects, uploadUrls: pushed.uploadUrls };
  }

  const clone = async (remote: string, want: string) => {
    const res = await wire(gw, 'POST', `${remote}/fetch`, { want: [want], have: [] });
    expect(res.status).toBe(200);
    return new Map<string, Buffer>(
      res.body.objects.map((o: { object_id: string; content: Uint8Array }) => [o.object_id, Buffer.from(o.content)]),
    );
  };

  test('a push with a large object (presigned, no credentials) and small ones (inline), then a clone and /o/, return the same bytes', async () => {
    const stem = randomBytes(300 * 1024);
    const { remote, commit, objects, uploadUrls } = await pushedRepo('round trip', {
      'stem.wav': stem,
      'notes.txt': 'verse, chorus',
      'empty.txt': '',
    });
    expect(uploadUrls).toHaveLength(1);
    // The gateway hands out its own upload route, or, for S3, the bucket's.
    const uploadOrigin = new URL(uploadUrls[0]!).origin;
    expect(uploadOrigin).toBe(store === 's3' ? new URL(env.MUSEHUB_S3_ENDPOINT!).origin : new URL(gw.url).origin);

    const cloned = await clone(remote, commit.commit_id);
    expect(cloned.size).toBe(objects.length);
    for (const o of objects) expect(cloned.get(o.object_id)?.equals(o.content)).toBe(true);

    const stemId = objects.find((o) => o.content.length === stem.length)!.object_id;
    const download = await fetch(`${gw.url}/o/${stemId}`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(stem)).toBe(true);
  });

  test('bytes that do not hash to their id, uploaded through a presigned URL, never become an object; the push naming them is refused', async () => {
    const repo = await createRepo(gw, token, { name: 'wrong bytes', visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const big = makeObject(randomBytes(100 * 1024));
    const before = await gw.fingerprint();
    const presign = await presignPut(gw, remote, token, [big.object_id]);
    const url = presign.body.presigned[big.object_id] as string;
    const put = await fetch(url, { method: 'PUT', body: new Uint8Array(randomBytes(100 * 1024)) });
    // The gateway's route checks the hash as the bytes arrive; S3 cannot, so the push does.
    expect(put.status).toBe(store === 's3' ? 200 : 422);
    const snapshot = {
      snapshot_id: 'e'.repeat(64),
      manifest: { 'x.wav': big.object_id },
      created_at: new Date().toISOString(),
    };
    const pushed = await wire(
      gw,
      'POST',
      `${remote}/push`,
      {
        bundle: { commits: [makeCommit({ snapshotId: snapshot.snapshot_id })], snapshots: [snapshot], objects: [] },
        branch: 'main',
        force: false,
      },
      { token },
    );
    expect(pushed.status).toBe(store === 's3' ? 422 : 400);
    expect(pushed.body.code).toBe(store === 's3' ? 'hash_mismatch' : 'missing_objects');
    expect(await gw.fingerprint()).toBe(before);
  });

  test('a deleted repo is the never-existed 404 on every transport path and on /o/; its bytes stay in the store', async () => {
    const { repo, remote, commit, objects } = await pushedRepo('to delete', {
      'a.wav': randomBytes(80 * 1024),
      'b.txt': 'b',
    });
    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
    const post = (p: string, body: object) =>
      fetch(`${gw.url}${remote}/${p}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await expectRepo404(await fetch(`${gw.url}${remote}/refs`, { headers: { authorization: `Bearer ${token}` } }));
    await expectRepo404(await post('fetch', { want: [commit.commit_id], have: [] }));
    await expectRepo404(await post('filter-objects', { object_ids: [objects[0]!.object_id] }));
    await expectRepo404(await post('presign', { object_ids: [objects[0]!.object_id], direction: 'put' }));
    await expectRepo404(await post('push/objects', { objects: [] }));
    await expectRepo404(await post('negotiate', { want: [commit.commit_id], have: [] }));
    for (const o of objects) {
      expect((await fetch(`${gw.url}/o/${o.object_id}`)).status).toBe(404);
      expect(await gw.store.has(o.object_id)).toBe(true);
    }
  });

  test('after a purge, exactly the bytes no row names any more are reported as reclaimable; a shared object is not (issue 25)', async () => {
    const total = (r: Reclaimable) => ({
      objects: r.loose.objects + r.packed.objects,
      bytes: r.loose.bytes + r.packed.bytes,
    });
    const shared = `shared by two repos ${randomBytes(8).toString('hex')}`;
    await pushedRepo('keeps shared', { 'shared.txt': shared });
    const before = total(await findReclaimable(gw.em(), gw.store));
    const { repo, objects } = await pushedRepo('to purge', {
      'big.wav': randomBytes(70 * 1024),
      'small.txt': `small ${randomBytes(8).toString('hex')}`,
      'shared.txt': shared,
    });
    expect(total(await findReclaimable(gw.em(), gw.store))).toEqual(before);
    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
    // Deleted but restorable: its rows still name the bytes.
    expect(total(await findReclaimable(gw.em(), gw.store))).toEqual(before);
    const purged = await gw.request('POST', `/api/v1/user/deleted-repos/alice/${repo.slug}/purge`, { token });
    expect(purged.status).toBe(200);
    const alone = objects.filter((o) => !o.content.equals(Buffer.from(shared)));
    expect(alone).toHaveLength(2);
    const after = total(await findReclaimable(gw.em(), gw.store));
    expect(after).toEqual({
      objects: before.objects + 2,
      bytes: before.bytes + alone.reduce((n, o) => n + o.content.length, 0),
    });
  });

  test('fsck finds an object whose stored bytes were changed behind the gateway, and passes once they are back', async () => {
    const { objects } = await pushedRepo('tampered', { 'c.wav': randomBytes(90 * 1024), 'd.txt': 'the words' });
    const victim: WireObject = objects.find((o) => o.content.length > 1000)!;
    await overwrite(store, gw, env, victim.object_id, Buffer.alloc(victim.content.length, 'x'));
    const report = await checkIntegrity(gw.em(), gw.store);
    expect(report.problems.map((p) => p.detail)).toEqual([
      expect.stringContaining(`object ${victim.object_id} hashes to`),
    ]);
    await overwrite(store, gw, env, victim.object_id, victim.content);
  });
});

test('every store the configuration accepts is in the suite', async () => {
  const { loadConfig } = await import('../../src/config.ts');
  expect(() => loadConfig({ MUSEHUB_OBJECT_STORE: 'tape' })).toThrow(/expected filesystem, postgres or s3/);
  for (const s of STORES) expect(() => loadConfig({ MUSEHUB_OBJECT_STORE: s, MUSEHUB_S3_BUCKET: 'b-1' })).not.toThrow();
});
