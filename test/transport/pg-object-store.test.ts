import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeObject, makeSnapshot, pushAll, wire } from '../helpers/muse.ts';

/** The same wire protocol with MUSEHUB_OBJECT_STORE=postgres: bytes live in the database only. */
let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_OBJECT_STORE: 'postgres' });
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const blobCount = async () =>
  (await sql<{ n: number }>(gw.databaseUrl, 'SELECT count(*)::int AS n FROM musehub_object_blobs'))[0]!.n;

test('push, clone and /o/ round-trip the bytes through PostgreSQL, with no object files on disk', async () => {
  const repo = await createRepo(gw, token, { name: 'in the db', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const stem = randomBytes(70_000);
  const { snapshot, objects } = makeSnapshot({ 'stem.wav': stem, 'notes.txt': 'verse, chorus' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  const before = await blobCount();
  expect((await pushAll(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(200);
  expect(await blobCount()).toBe(before + 2);
  await expect(fs.readdir(path.join(gw.dataDir, 'objects'))).rejects.toThrow();

  const fetched = await wire(gw, 'POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] });
  expect(fetched.status).toBe(200);
  const byId = new Map(fetched.body.objects.map((o: { object_id: string; content: Uint8Array }) => [o.object_id, o]));
  for (const o of objects)
    expect(Buffer.from((byId.get(o.object_id) as { content: Uint8Array }).content)).toEqual(o.content);

  const stemId = objects.find((o) => o.content.length === stem.length)!.object_id;
  const download = await fetch(`${gw.url}/o/${stemId}`);
  expect(download.status).toBe(200);
  expect(Buffer.from(await download.arrayBuffer())).toEqual(stem);

  // Deleted: the rows stay, every path is 404.
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  await expectRepo404(
    await fetch(`${gw.url}${remote}/fetch`, {
      method: 'POST',
      body: '{"want":[],"have":[]}',
      headers: { 'content-type': 'application/json' },
    }),
  );
  expect((await fetch(`${gw.url}/o/${stemId}`)).status).toBe(404);
  expect(await blobCount()).toBe(before + 2);
});

test('a presigned upload with the wrong bytes stores nothing; the right bytes are stored once', async () => {
  const repo = await createRepo(gw, token, { name: 'presigned', visibility: 'public' });
  const big = makeObject(randomBytes(100 * 1024));
  const presign = await wire(
    gw,
    'POST',
    `/alice/${repo.slug}/presign`,
    { object_ids: [big.object_id], direction: 'put' },
    { token },
  );
  const url = presign.body.presigned[big.object_id] as string;
  const before = await blobCount();
  const wrong = await fetch(url, { method: 'PUT', body: new Uint8Array(randomBytes(100 * 1024)) });
  expect(wrong.status).toBe(422);
  expect((await wrong.json()).code).toBe('hash_mismatch');
  expect(await blobCount()).toBe(before);
  expect((await fetch(url, { method: 'PUT', body: new Uint8Array(big.content) })).status).toBe(200);
  expect((await fetch(url, { method: 'PUT', body: new Uint8Array(big.content) })).status).toBe(200);
  expect(await blobCount()).toBe(before + 1);
});
