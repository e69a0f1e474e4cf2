import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { checkIntegrity } from '../../src/integrity/fsck.ts';
import { createRepo, expectRepo404 } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { listKeys, s3Client, s3Env, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import {
  makeCommit,
  makeObject,
  makeSnapshot,
  presignPut,
  pushLikeMuse,
  type WireObject,
  wire,
} from '../helpers/muse.ts';
import { eventually, runCli } from '../helpers/process.ts';

/** What only the S3 store does: uploads straight to the bucket, verified on push; staging clean-up. */
const env = await s3Env();
let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({ ...env, MUSEHUB_MAX_OBJECT_BYTES: String(1024 * 1024) });
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());
afterEach(() => gw.expectIntegrity());

/** Staged (unverified) uploads: of one repo, or of all. */
const staged = async (repoId = '') => [...(await listKeys(env, `staging/${repoId}`)).keys()];
const objectRows = async (repoId: string) =>
  (
    await sql<{ object_id: string }>(gw.databaseUrl, 'SELECT object_id FROM musehub_objects WHERE repo_id = $1', [
      repoId,
    ])
  ).map((r) => r.object_id);

function oneFileCommit(file: WireObject) {
  const { snapshot } = makeSnapshot({});
  snapshot.manifest = { 'take.wav': file.object_id };
  snapshot.snapshot_id = randomBytes(32).toString('hex');
  return { snapshot, commit: makeCommit({ snapshotId: snapshot.snapshot_id }) };
}

const pushNaming = (remote: string, file: WireObject) => {
  const { snapshot, commit } = oneFileCommit(file);
  return wire(
    gw,
    'POST',
    `${remote}/push`,
    { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
    { token },
  );
};

const presignOne = async (remote: string, id: string, ttl?: number) => {
  const res = await presignPut(gw, remote, token, [id], ttl);
  expect(res.status).toBe(200);
  return res.body.presigned[id] as string;
};

test("the muse client's push of a 1 MiB file sends its bytes to the bucket: the gateway receives none of them", async () => {
  const repo = await createRepo(gw, token, { name: 'straight to s3', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const big = randomBytes(1024 * 1024);
  const { snapshot, objects } = makeSnapshot({ 'stem.wav': big, 'lyrics.txt': 'la la' });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });

  // Every byte the gateway's sockets read while the push runs.
  const sockets = new Set<Socket>();
  const onConnection = (s: Socket) => sockets.add(s);
  gw.server.on('connection', onConnection);
  const pushed = await pushLikeMuse(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects });
  gw.server.off('connection', onConnection);
  const received = [...sockets].reduce((n, s) => n + s.bytesRead, 0);

  expect(pushed.status).toBe(200);
  expect(pushed.uploadUrls).toHaveLength(1);
  expect(new URL(pushed.uploadUrls[0]!).origin).toBe(new URL(env.MUSEHUB_S3_ENDPOINT!).origin);
  expect(received).toBeGreaterThan(0);
  expect(received).toBeLessThan(64 * 1024);
  // Verified and moved into place: nothing left in staging, the object is the repo's.
  expect(await staged(repo.repoId)).toEqual([]);
  expect((await objectRows(repo.repoId)).sort()).toEqual(objects.map((o) => o.object_id).sort());
});

test('a presigned URL that expired, was tampered with, or is used for another key is refused by the store itself', async () => {
  const repo = await createRepo(gw, token, { name: 'signed urls', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const big = makeObject(randomBytes(100 * 1024));
  const url = new URL(await presignOne(remote, big.object_id));
  const put = (u: URL | string, body: Uint8Array = new Uint8Array(big.content)) => fetch(u, { method: 'PUT', body });

  const forged = new URL(url);
  const sig = forged.searchParams.get('X-Amz-Signature')!;
  forged.searchParams.set('X-Amz-Signature', `${sig.slice(0, -4)}0000`);
  expect((await put(forged)).status).toBe(403);
  const otherKey = new URL(url);
  otherKey.pathname = otherKey.pathname.replace(big.object_id, 'f'.repeat(64));
  expect((await put(otherKey)).status).toBe(403);
  const otherRepo = new URL(url);
  otherRepo.pathname = otherRepo.pathname.replace(repo.repoId, '00000000-0000-4000-8000-000000000000');
  expect((await put(otherRepo)).status).toBe(403);
  const longer = new URL(url);
  longer.searchParams.set('X-Amz-Expires', '604800');
  expect((await put(longer)).status).toBe(403);
  expect(await staged(repo.repoId)).toEqual([]);

  // A one-second URL, used after its expiry (the clock is polled; nothing else to wait on).
  const short = await presignOne(remote, big.object_id, 1);
  const signedAt = Date.parse(
    new URL(short).searchParams
      .get('X-Amz-Date')!
      .replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  await eventually(() => Date.now() > signedAt + 2_500, 10_000);
  expect((await put(short)).status).toBe(403);
  expect(await staged(repo.repoId)).toEqual([]);

  // The untouched URL still works.
  expect((await put(url)).status).toBe(200);
  expect((await pushNaming(remote, big)).status).toBe(200);
});

test('a staged upload whose repo was deleted meanwhile never becomes the repo’s, even after a restore', async () => {
  const repo = await createRepo(gw, token, { name: 'deleted while uploading', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const big = makeObject(randomBytes(120 * 1024));
  const url = await presignOne(remote, big.object_id);
  expect((await fetch(url, { method: 'PUT', body: new Uint8Array(big.content) })).status).toBe(200);
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);

  await expectRepo404(
    await fetch(`${gw.url}${remote}/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"bundle":{"commits":[],"snapshots":[],"objects":[]},"branch":"main"}',
    }),
  );
  await expectRepo404(
    await fetch(`${gw.url}${remote}/presign`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ object_ids: [big.object_id], direction: 'put' }),
    }),
  );
  expect(await objectRows(repo.repoId)).toEqual([]);
  expect(await gw.store.has(big.object_id)).toBe(false);
  expect(await staged(repo.repoId)).toHaveLength(1);
});

test('a push whose staged upload is being verified when the repo is deleted writes nothing: the delete wins', async () => {
  const repo = await createRepo(gw, token, { name: 'racing the delete', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const big = makeObject(randomBytes(150 * 1024));
  const url = await presignOne(remote, big.object_id);
  expect((await fetch(url, { method: 'PUT', body: new Uint8Array(big.content) })).status).toBe(200);

  // Hold the repo row, queue a real delete behind it, then start the push: it passes the
  // repo check (the delete has not committed), verifies the upload, and queues its write
  // behind the delete. Releasing the row lets the delete commit first.
  const holder = new pg.Client({ connectionString: gw.databaseUrl });
  await holder.connect();
  const waiting = async (n: number) =>
    (
      await sql<{ n: number }>(
        gw.databaseUrl,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      )
    )[0]!.n >= n;
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM musehub_repos WHERE repo_id = $1 FOR UPDATE', [repo.repoId]);
    const deleting = gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token });
    await eventually(() => waiting(1));
    const pushing = pushNaming(remote, big);
    await eventually(() => waiting(2));
    await holder.query('ROLLBACK');
    expect((await deleting).status).toBe(204);
    const pushed = await pushing;
    expect(pushed.status).toBe(404);
    expect(pushed.body).toEqual({ detail: 'repo not found', code: 'repo_not_found' });
  } finally {
    await holder.end();
  }
  expect(await objectRows(repo.repoId)).toEqual([]);
  // Restored, the repo still does not hold it: the upload never became the repo's.
  expect((await gw.request('POST', `/api/v1/repos/${repo.repoId}/restore`, { token })).status).toBe(200);
  const filter = await wire(gw, 'POST', `${remote}/filter-objects`, { object_ids: [big.object_id] }, { token });
  expect(filter.body.missing).toEqual([big.object_id]);
});

test('a staged upload over the size limit, or with the wrong bytes, is removed and the push refused', async () => {
  const repo = await createRepo(gw, token, { name: 'refused uploads', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const huge = makeObject(randomBytes(1024 * 1024 + 1));
  const url = await presignOne(remote, huge.object_id);
  // A presigned PUT cannot cap its size: S3 takes it, the push refuses it.
  expect((await fetch(url, { method: 'PUT', body: new Uint8Array(huge.content) })).status).toBe(200);
  const pushed = await pushNaming(remote, huge);
  expect(pushed.status).toBe(413);
  expect(pushed.body.detail).toMatch(/is 1048577 bytes; the limit is 1048576/);
  expect(await staged(repo.repoId)).toEqual([]);
  expect(await objectRows(repo.repoId)).toEqual([]);

  // An object another repo holds can be claimed only with its bytes, never by its id alone.
  const other = await createRepo(gw, token, { name: 'holds it', visibility: 'private' });
  const secret = makeObject(randomBytes(90 * 1024));
  const held = await pushLikeMuse(gw, `/alice/${other.slug}`, token, {
    ...(() => {
      const { snapshot, commit } = oneFileCommit(secret);
      return { commits: [commit], snapshots: [snapshot] };
    })(),
    objects: [secret],
  });
  expect(held.status).toBe(200);
  const claim = await presignOne(remote, secret.object_id);
  expect((await fetch(claim, { method: 'PUT', body: new Uint8Array(randomBytes(90 * 1024)) })).status).toBe(200);
  const refused = await pushNaming(remote, secret);
  expect(refused.status).toBe(422);
  expect(refused.body.code).toBe('hash_mismatch');
  expect(await objectRows(repo.repoId)).toEqual([]);
  expect(await staged(repo.repoId)).toEqual([]);
});

test('musehub gc --staging removes staged uploads older than the cut-off and keeps younger ones', async () => {
  const repo = await createRepo(gw, token, { name: 'abandoned uploads', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  for (const o of [makeObject(randomBytes(70 * 1024)), makeObject(randomBytes(70 * 1024))]) {
    const url = await presignOne(remote, o.object_id);
    expect((await fetch(url, { method: 'PUT', body: new Uint8Array(o.content) })).status).toBe(200);
  }
  const before = await staged();
  expect(before.length).toBeGreaterThanOrEqual(2);
  const cli = { DATABASE_URL: gw.databaseUrl, MUSEHUB_DATA_DIR: gw.dataDir, ...env };
  const young = await runCli(['gc', '--staging', '--older-than', '1d', '--json'], cli);
  expect(young.code, young.stderr).toBe(0);
  expect(JSON.parse(young.stdout)).toEqual({ removed: 0, kept: before.length });
  expect(await staged()).toEqual(before);

  const all = await runCli(['gc', '--staging', '--older-than', '0s', '--json'], cli);
  expect(all.code, all.stderr).toBe(0);
  expect(JSON.parse(all.stdout)).toEqual({ removed: before.length, kept: 0 });
  expect(await staged()).toEqual([]);

  const bad = await runCli(['gc', '--staging', '--older-than', 'yesterday'], cli);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toMatch(/--older-than: expected a number and a unit/);
});

test('MUSEHUB_S3_PRESIGN_ENDPOINT: upload URLs name the endpoint clients reach, and work there', async () => {
  const endpoint = new URL(env.MUSEHUB_S3_ENDPOINT!);
  const publicEndpoint = `http://localhost:${endpoint.port}`;
  const other = await startTestGateway({ ...env, MUSEHUB_S3_PRESIGN_ENDPOINT: publicEndpoint });
  try {
    const { token: t } = await other.user('alice');
    const repo = await createRepo(other, t, { name: 'public endpoint', visibility: 'public' });
    const big = makeObject(randomBytes(80 * 1024));
    const res = await wire(
      other,
      'POST',
      `/alice/${repo.slug}/presign`,
      { object_ids: [big.object_id], direction: 'put' },
      { token: t },
    );
    const url = res.body.presigned[big.object_id] as string;
    expect(new URL(url).origin).toBe(publicEndpoint);
    expect((await fetch(url, { method: 'PUT', body: new Uint8Array(big.content) })).status).toBe(200);
    const { snapshot, commit } = oneFileCommit(big);
    const pushed = await wire(
      other,
      'POST',
      `/alice/${repo.slug}/push`,
      { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
      { token: t },
    );
    expect(pushed.status).toBe(200);
  } finally {
    await other.close();
  }
});

test('fsck finds an object missing from the bucket, with and without re-hashing, and passes once it is back', async () => {
  const repo = await createRepo(gw, token, { name: 'lost object', visibility: 'public' });
  const lost = makeObject(randomBytes(70 * 1024));
  const { snapshot, commit } = oneFileCommit(lost);
  expect(
    (
      await pushLikeMuse(gw, `/alice/${repo.slug}`, token, {
        commits: [commit],
        snapshots: [snapshot],
        objects: [lost],
      })
    ).status,
  ).toBe(200);
  const s3 = s3Client(env);
  const key = { Bucket: env.MUSEHUB_S3_BUCKET, Key: `${env.MUSEHUB_S3_PREFIX}objects/${lost.object_id}` };
  try {
    await s3.send(new DeleteObjectCommand(key));
    for (const hashBytes of [true, false]) {
      const report = await checkIntegrity(gw.em(), gw.store, { hashBytes });
      expect(report.problems, `hashBytes ${hashBytes}`).toEqual([
        { check: 'object bytes are stored', detail: `object ${lost.object_id} is missing from the store` },
      ]);
    }
  } finally {
    await s3.send(new PutObjectCommand({ ...key, Body: lost.content }));
    s3.destroy();
  }
});

test('a push/objects batch is one pack in the bucket; a clone reads it back by ranges; fsck finds a changed byte inside it', async () => {
  const repo = await createRepo(gw, token, { name: 'packed', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const files = Object.fromEntries(
    Array.from({ length: 50 }, (_, i) => [`part-${i}.mid`, randomBytes(1 + ((i * 997) % 6000))]),
  );
  files['empty.txt'] = Buffer.alloc(0);
  const { snapshot, objects } = makeSnapshot(files);
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  const packsBefore = await listKeys(env, 'packs/');
  expect((await pushLikeMuse(gw, remote, token, { commits: [commit], snapshots: [snapshot], objects })).status).toBe(
    200,
  );
  const added = [...(await listKeys(env, 'packs/')).keys()].filter((k) => !packsBefore.has(k));
  expect(added).toHaveLength(1);

  const cloned = await wire(gw, 'POST', `${remote}/fetch`, { want: [commit.commit_id], have: [] });
  expect(cloned.status).toBe(200);
  const got = new Map<string, Buffer>(
    cloned.body.objects.map((o: { object_id: string; content: Uint8Array }) => [o.object_id, Buffer.from(o.content)]),
  );
  for (const o of objects) expect(got.get(o.object_id)?.equals(o.content), o.object_id).toBe(true);
  // Every third object, in reverse: ranges with gaps, read out of order.
  const some = objects.filter((_, i) => i % 3 === 0).reverse();
  const read = await gw.store.getMany(some.map((o) => ({ object_id: o.object_id, size: o.content.length })));
  for (const [i, o] of some.entries()) expect(read[i]!.equals(o.content), o.object_id).toBe(true);
  // A fetch reads them in pack order: the order they were uploaded in.
  expect(await gw.store.arrange!(some)).toEqual([...some].reverse());

  // One byte of one object changed inside the pack, behind the gateway's back.
  const [row] = await sql<{ object_id: string; offset: string }>(
    gw.databaseUrl,
    `SELECT object_id, "offset" FROM musehub_packed_objects WHERE pack = $1 AND size > 0 ORDER BY "offset" DESC LIMIT 1`,
    [added[0]!.slice(env.MUSEHUB_S3_PREFIX!.length)],
  );
  const s3 = s3Client(env);
  const key = { Bucket: env.MUSEHUB_S3_BUCKET, Key: added[0]! };
  const original = Buffer.from(await (await s3.send(new GetObjectCommand(key))).Body!.transformToByteArray());
  const changed = Buffer.from(original);
  changed[Number(row!.offset)]! ^= 0xff;
  try {
    await s3.send(new PutObjectCommand({ ...key, Body: changed }));
    const report = await checkIntegrity(gw.em(), gw.store);
    expect(report.problems.map((p) => p.detail)).toEqual([
      expect.stringContaining(`object ${row!.object_id} hashes to`),
    ]);
  } finally {
    await s3.send(new PutObjectCommand({ ...key, Body: original }));
    s3.destroy();
  }
});
