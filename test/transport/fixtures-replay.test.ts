import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo } from '../helpers/builders.ts';
import { sql } from '../helpers/db.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { wirePackr } from '../helpers/muse.ts';

/**
 * Replays every request the real muse client sent to the reference hub (test/fixtures/mwp)
 * against the gateway, in order, and checks status codes and response shapes. Where the
 * reference hub was wrong (see index.json musehub_bugs) the expectation is the corrected behaviour.
 */
const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'mwp');
const index = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8'));

interface Exchange {
  n: number;
  method: 'GET' | 'POST';
  path: string;
  status: number;
  req_file: string | null;
  resp_file: string;
  request_headers: { authorization_sent: boolean };
}

const readFixture = (name: string) => {
  const bytes = fs.readFileSync(path.join(FIXTURES, name));
  return name.endsWith('.json') ? JSON.parse(bytes.toString()) : wirePackr.unpack(bytes);
};

// Our answers where the reference hub's were wrong.
const CORRECTED: Record<number, number> = { 32: 404, 35: 404, 36: 404 };

let gw: TestGateway;
let token: string;
const responses = new Map<number, { status: number; body: unknown }>();

beforeAll(async () => {
  gw = await startTestGateway();
  ({ token } = await gw.user('alice'));
  await createRepo(gw, token, { name: 'fx', visibility: 'public' });
  await createRepo(gw, token, { name: 'fx2', visibility: 'public' });
  for (const ex of index.exchanges as Exchange[]) {
    if (ex.n === 31) {
      // The recording soft-deleted alice/fx here.
      const [repo] = await sql<{ repo_id: string }>(
        gw.databaseUrl,
        `UPDATE musehub_repos SET deleted_at = now() WHERE slug = 'fx' RETURNING repo_id`,
      );
      gw.cache.evictRepo(repo!.repo_id);
    }
    const headers: Record<string, string> = {
      accept: 'application/x-msgpack, application/json',
      'user-agent': 'Python-urllib/3.14',
    };
    if (ex.request_headers.authorization_sent) headers.authorization = `Bearer ${token}`;
    let body: Uint8Array | undefined;
    if (ex.req_file) {
      headers['content-type'] = 'application/x-msgpack';
      body = new Uint8Array(fs.readFileSync(path.join(FIXTURES, ex.req_file)));
    }
    const res = await fetch(`${gw.url}${ex.path}`, { method: ex.method, headers, body });
    const raw = Buffer.from(await res.arrayBuffer());
    const decoded = res.status < 300 ? wirePackr.unpack(raw) : JSON.parse(raw.toString());
    responses.set(ex.n, { status: res.status, body: decoded });
  }
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

test.each((index.exchanges as Exchange[]).map((e) => [e.n, e.method, e.path, e] as const))(
  'exchange %i: %s %s',
  (n, _method, _path, ex) => {
    const ours = responses.get(n)!;
    expect(ours.status).toBe(CORRECTED[n] ?? ex.status);
    const recorded = readFixture(ex.resp_file);
    if (ours.status >= 400) {
      expect(ours.body).toMatchObject({ detail: expect.any(String) });
      if (ours.status === 404) expect(ours.body).toEqual({ detail: 'repo not found', code: 'repo_not_found' });
      if (ex.status === ours.status) expect((ours.body as { detail: string }).detail).toBe(recorded.detail);
      return;
    }
    // Same top-level fields as the reference hub answered (objects may omit its `path`).
    expect(Object.keys(ours.body as object).sort()).toEqual(Object.keys(recorded).sort());
  },
);

test('refs and push answers match the recording field for field (ids aside)', () => {
  const refs = responses.get(5)!.body as Record<string, unknown>;
  const recorded = readFixture('05-refs-200.resp.msgpack');
  expect(refs).toMatchObject({ domain: 'code', default_branch: 'main', branch_heads: recorded.branch_heads });
  for (const n of [4, 10, 17, 28]) {
    const rec = readFixture(index.exchanges[n - 1].resp_file);
    expect(responses.get(n)!.body).toEqual({ ...rec });
  }
});

test('fetch returns every pushed commit exactly as the client sent it', () => {
  const pushed = [4, 10, 17].flatMap((n) => readFixture(index.exchanges[n - 1].req_file).bundle.commits);
  const fetched = [6, 13, 19].flatMap((n) => (responses.get(n)!.body as { commits: unknown[] }).commits);
  for (const commit of fetched) {
    const original = pushed.find(
      (c: { commit_id: string }) => c.commit_id === (commit as { commit_id: string }).commit_id,
    );
    expect(commit).toEqual(original);
  }
  expect(fetched.length).toBe(3);
});

test('objects the client already holds are left out of a pull; a second repo gets its shared blobs', () => {
  // Exchange 13 (pull with have=[first commit]): the reference hub resent 3 held objects.
  const pull = responses.get(13)!.body as { objects: { object_id: string }[] };
  expect(pull.objects.length).toBe(2);
  // Exchange 30 (clone of alice/fx2): the reference hub omitted 3 of 4 blobs stored for alice/fx.
  const clone = responses.get(30)!.body as { objects: { object_id: string; content: Uint8Array }[] };
  const manifest = readFixture('28-push-200.req.msgpack').bundle.snapshots[0].manifest;
  expect(clone.objects.map((o) => o.object_id).sort()).toEqual([...new Set(Object.values(manifest))].sort());
  expect(responses.get(27)!.body).toEqual({ stored: 4, skipped: 0 });
});
