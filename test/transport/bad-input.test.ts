import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createPushedRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeObject, wire } from '../helpers/muse.ts';

let gw: TestGateway;
let token: string;
let remote: string;
let head: string;

beforeAll(async () => {
  gw = await startTestGateway({
    MUSEHUB_MAX_BODY_BYTES: String(256 * 1024),
    MUSEHUB_MAX_OBJECT_BYTES: String(100 * 1024),
  });
  ({ token } = await gw.user('alice'));
  ({ remote, head } = await createPushedRepo(gw, token, 'target'));
});
afterAll(() => gw?.close());
// Whatever a test did — races, deletes, rejected input — the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

/** Row counts of every history table plus the object directory listing: "nothing changed" means all equal. */
async function stateOf() {
  const counts = await sql(
    gw.databaseUrl,
    `SELECT (SELECT count(*) FROM musehub_commits)::int AS commits, (SELECT count(*) FROM musehub_snapshots)::int AS snapshots,
            (SELECT count(*) FROM musehub_objects)::int AS objects, (SELECT string_agg(name || '=' || head_commit_id, ',') FROM musehub_branches) AS heads`,
  );
  const dir = path.join(gw.dataDir, 'objects');
  const files = (await fs.readdir(dir, { recursive: true })).filter((f) => !f.startsWith('tmp')).sort();
  return { ...counts[0], files };
}

const raw = (
  p: string,
  body: Uint8Array | string,
  type = 'application/x-msgpack',
  extra: Record<string, string> = {},
) =>
  fetch(`${gw.url}${remote}${p}`, {
    method: 'POST',
    headers: { 'content-type': type, authorization: `Bearer ${token}`, accept: 'application/x-msgpack', ...extra },
    body,
  });

test('a hash mismatch is 422 and nothing from that request is kept', async () => {
  const before = await stateOf();
  const good = makeObject('good bytes');
  const bad = { object_id: makeObject('claimed').object_id, content: Buffer.from('actual') };
  const res = await wire(gw, 'POST', `${remote}/push/objects`, { objects: [good, bad] }, { token });
  expect(res.status).toBe(422);
  expect(res.body.detail).toMatch(/hashes to/);
  expect(await stateOf()).toEqual(before);
});

const snapshotWith = (manifest: Record<string, string>) => ({
  snapshot_id: 'b'.repeat(64),
  manifest,
  created_at: new Date().toISOString(),
});
const pushBody = (overrides: Record<string, unknown>) => ({
  bundle: {
    commits: [makeCommit({ snapshotId: 'b'.repeat(64), parent: head })],
    snapshots: [snapshotWith({})],
    objects: [],
  },
  branch: 'main',
  force: false,
  ...overrides,
});

test.each([
  ['malformed msgpack', 'push', () => Buffer.from([0xc1, 0xff, 0x00]), /not valid msgpack/],
  [
    'truncated bin',
    'push/objects',
    () => Buffer.from([0x81, 0xa7, ...Buffer.from('objects'), 0x91, 0x82, 0xc4, 0xff]),
    /not valid msgpack/,
  ],
  ['a JSON body that is not JSON', 'filter-objects', () => '{"object_ids": [', /not valid JSON/, 'application/json'],
  ['wrong content type', 'fetch', () => 'want=x', /Content-Type/, 'application/x-www-form-urlencoded'],
])('%s → 4xx with a detail, nothing stored', async (_name, endpoint, body, detail, type?: string) => {
  const before = await stateOf();
  const res = await raw(`/${endpoint}`, body() as Uint8Array, type);
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect((await res.json()).detail).toMatch(detail);
  expect(await stateOf()).toEqual(before);
});

test.each([
  ['object ids that are not 64 hex', 'filter-objects', { object_ids: ['../../etc/passwd'] }, /object_ids\.0/],
  ['a string where bytes belong', 'push/objects', { objects: [{ object_id: 'a'.repeat(64), content: 12 }] }, /content/],
  ['want that is not a list', 'fetch', { want: 'abc', have: [] }, /want/],
  ['an empty want', 'fetch', { want: [], have: [] }, /want/],
  ['an unknown wanted commit', 'fetch', { want: ['c'.repeat(64)], have: [] }, /does not have/],
  ['traversal in a branch name', 'push', pushBody({ branch: '../../refs/heads/main' }), /branch/],
  ['a branch name with a space', 'push', pushBody({ branch: 'a b' }), /branch/],
  [
    'traversal in a file path',
    'push',
    pushBody({ bundle: { commits: [], snapshots: [snapshotWith({ '../escape': 'a'.repeat(64) })] } }),
    /manifest/,
  ],
  [
    'an absolute file path',
    'push',
    pushBody({ bundle: { commits: [], snapshots: [snapshotWith({ '/etc/passwd': 'a'.repeat(64) })] } }),
    /manifest/,
  ],
  [
    'a NaN date',
    'push',
    pushBody({
      bundle: {
        commits: [makeCommit({ snapshotId: 'b'.repeat(64), extra: { committed_at: 'not a date' } })],
        snapshots: [],
      },
    }),
    /committed_at/,
  ],
  [
    'a snapshot naming objects never uploaded',
    'push',
    pushBody({
      bundle: {
        commits: [makeCommit({ snapshotId: 'b'.repeat(64), parent: null })],
        snapshots: [snapshotWith({ 'x.txt': 'd'.repeat(64) })],
      },
    }),
    /does not have/,
  ],
  [
    'a commit whose parent is unknown',
    'push',
    pushBody({
      bundle: {
        commits: [makeCommit({ snapshotId: 'b'.repeat(64), parent: 'e'.repeat(64) })],
        snapshots: [snapshotWith({})],
      },
    }),
    /does not have/,
  ],
  ['too many ids', 'filter-objects', { object_ids: Array(50_001).fill('a'.repeat(64)) }, /too|large|larger/i],
  ['a huge integer', 'fetch', { want: [2n ** 63n], have: [] }, /want/],
  ['deep nesting', 'negotiate', { want: [JSON.parse('['.repeat(200) + ']'.repeat(200))], have: [] }, /want/],
])('%s → 4xx with a detail, nothing stored', async (_name, endpoint, body, detail) => {
  const before = await stateOf();
  const res = await wire(gw, 'POST', `${remote}/${endpoint}`, body, { token });
  expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(res.body.detail).toMatch(detail);
  expect(await stateOf()).toEqual(before);
});

test('oversized bodies are 413 before anything is written', async () => {
  const before = await stateOf();
  const big = makeObject(Buffer.alloc(300 * 1024, 7));
  const res = await wire(gw, 'POST', `${remote}/push/objects`, { objects: [big] }, { token });
  expect(res.status).toBe(413);
  expect(res.body.detail).toMatch(/larger than/);
  // Under the body cap but over the per-object cap.
  const mid = makeObject(Buffer.alloc(150 * 1024, 9));
  const res2 = await wire(gw, 'POST', `${remote}/push/objects`, { objects: [mid] }, { token });
  expect(res2.status).toBe(413);
  expect(res2.body.detail).toMatch(/limit/);
  expect(await stateOf()).toEqual(before);
});

test('the branch head never moves on a rejected push', async () => {
  const refs = await wire(gw, 'GET', `${remote}/refs`);
  expect(refs.body.branch_heads).toEqual({ main: head });
});

test('compressed bodies are refused (415), not inflated: no decompression bomb gets past the size limits', async () => {
  const before = await stateOf();
  const { gzipSync } = await import('node:zlib');
  const body = gzipSync(Buffer.from(JSON.stringify({ object_ids: ['a'.repeat(64)] })));
  for (const encoding of ['gzip', 'deflate', 'br']) {
    const res = await raw('/filter-objects', body, 'application/json', { 'content-encoding': encoding });
    expect(res.status).toBe(415);
    expect((await res.json()).detail).toBe(
      `Content-Encoding '${encoding}' is not accepted; send the body uncompressed`,
    );
  }
  const rest = await gw.request('POST', '/api/v1/repos', {
    token,
    headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
  });
  expect(rest.status).toBe(415);
  expect(await stateOf()).toEqual(before);
});
