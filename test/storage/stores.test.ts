import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { checkIntegrity } from '../../src/integrity/fsck.ts';
import { collectGarbage } from '../../src/integrity/gc.ts';
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

  const gc = async (opts: { dryRun?: boolean } = {}) => {
    const report = await collectGarbage(gw.orm, gw.store, { graceMs: 0, ...opts });
    expect(report).not.toBeNull();
    return report!;
  };

  test('gc after a purge removes exactly the bytes no other repo names; a shared object and every clone stay whole (issue 25)', async () => {
    const shared = `shared by two repos ${randomBytes(8).toString('hex')}`;
    const keeper = await pushedRepo('keeps shared', { 'shared.txt': shared, 'own.wav': randomBytes(90 * 1024) });
    // Clear what earlier tests left unnamed, so that what follows counts this test's bytes alone.
    await gc();
    const { repo, objects } = await pushedRepo('to purge', {
      'big.wav': randomBytes(70 * 1024),
      'small.txt': `small ${randomBytes(8).toString('hex')}`,
      'shared.txt': shared,
    });
    expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
    // Deleted but restorable: its rows still name the bytes, so nothing is collectable.
    expect((await gc({ dryRun: true })).removed).toEqual({ objects: 0, bytes: 0 });
    const purged = await gw.request('POST', `/api/v1/user/deleted-repos/alice/${repo.slug}/purge`, { token });
    expect(purged.status).toBe(200);
    // Gone for good: no restore, the name free again, the audit trail kept.
    expect((await gw.request('POST', `/api/v1/repos/${repo.repoId}/restore`, { token })).status).toBe(404);
    const events = await sql<{ action: string }>(
      gw.databaseUrl,
      'SELECT action FROM musehub_audit_events WHERE repo_id = $1 ORDER BY occurred_at',
      [repo.repoId],
    );
    expect(events.map((e) => e.action)).toEqual(['repo.delete', 'repo.purge']);
    const again = await createRepo(gw, token, { name: 'to purge', visibility: 'public' });
    expect(again.slug).toBe(repo.slug);
    const alone = objects.filter((o) => !o.content.equals(Buffer.from(shared)));
    expect(alone).toHaveLength(2);
    const exactly = { objects: 2, bytes: alone.reduce((n, o) => n + o.content.length, 0) };
    expect((await gc({ dryRun: true })).removed).toEqual(exactly);
    for (const o of alone) expect(await gw.store.has(o.object_id)).toBe(true);

    expect((await gc()).removed).toEqual(exactly);
    for (const o of alone) expect(await gw.store.has(o.object_id)).toBe(false);
    const kept = await clone(keeper.remote, keeper.commit.commit_id);
    expect(kept.size).toBe(keeper.objects.length);
    for (const o of keeper.objects) expect(kept.get(o.object_id)?.equals(o.content)).toBe(true);
    expect((await gc()).removed).toEqual({ objects: 0, bytes: 0 });
  });

  test('repacking merges small packs while clones keep reading: no clone fails, every clone is identical (issue 25)', async () => {
    const repo = await createRepo(gw, token, { name: 'many small pushes', visibility: 'public' });
    const remote = `/alice/${repo.slug}`;
    const files: Record<string, Buffer> = {};
    let parent: string | null = null;
    for (let i = 0; i < 12; i++) {
      // Two new objects a push: S3 stores a push's lone object outside any pack.
      files[`part-${i}.txt`] = randomBytes(2048);
      files[`part-${i}.mid`] = randomBytes(512);
      const { snapshot, objects } = makeSnapshot(files);
      const commit = makeCommit({ snapshotId: snapshot.snapshot_id, parent });
      const pushed = await pushLikeMuse(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects });
      expect(pushed.status, JSON.stringify(pushed.body)).toBe(200);
      parent = commit.commit_id;
    }
    const want = parent!;
    const expected = await clone(remote, want);
    expect(expected.size).toBe(24);
    let collecting = true;
    const clones = (async () => {
      let n = 0;
      // At least a few clones, and clones for as long as the collection runs.
      while (collecting || n < 3) {
        const got = await clone(remote, want);
        expect([...got.entries()].every(([id, bytes]) => expected.get(id)?.equals(bytes))).toBe(true);
        expect(got.size).toBe(expected.size);
        n++;
      }
      return n;
    })();
    const report = await gc().finally(() => {
      collecting = false;
    });
    expect(await clones).toBeGreaterThanOrEqual(3);
    // The filesystem and S3 keep a push's small objects in a pack of its own; PostgreSQL has no packs.
    if (store === 'postgres') expect(report.packs).toEqual({ retired: 0, written: 0 });
    else expect(report.packs.retired).toBeGreaterThanOrEqual(12);
    const after = await clone(remote, want);
    expect([...after.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [id, bytes] of after) expect(bytes.equals(expected.get(id)!)).toBe(true);
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
