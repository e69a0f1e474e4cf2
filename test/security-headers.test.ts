import { afterAll, beforeAll, expect, test } from 'vitest';
import { createRepo } from './helpers/builders.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from './helpers/muse.ts';

/** Regressions (issue 23, item 9): caching of private answers, /o/ downloads, /docs framing and calls out. */
let gw: TestGateway;
let alice: { token: string };
let stranger: { token: string };
let objectId: string;
let privateId: string;
beforeAll(async () => {
  gw = await startTestGateway();
  alice = await gw.user('alice');
  stranger = await gw.user('mallory');
  const pub = await createRepo(gw, alice.token, { name: 'open', visibility: 'public' });
  privateId = (await createRepo(gw, alice.token, { name: 'closed' })).repoId;
  const s = makeSnapshot({ 'page.html': '<script>alert(1)</script>' });
  objectId = s.objects[0]!.object_id;
  await pushAll(gw, `/alice/${pub.slug}`, alice.token, {
    commits: [makeCommit({ snapshotId: s.snapshot.snapshot_id })],
    snapshots: [s.snapshot],
    objects: s.objects,
  });
});
afterAll(() => gw?.close());

test('answers about repos are not for shared caches: no-store on REST and the wire, private and missing alike', async () => {
  const answers = [
    await gw.request('GET', `/api/v1/repos/${privateId}`, { token: stranger.token }),
    await gw.request('GET', '/api/v1/repos/00000000-0000-4000-8000-000000000000', { token: stranger.token }),
    await gw.request('GET', `/api/v1/repos/${privateId}`, { token: alice.token }),
    await gw.request('GET', '/alice/closed/refs', { token: alice.token }),
    await gw.request('GET', '/alice/open/refs'),
  ];
  expect(answers.map((r) => [r.status, r.headers.get('cache-control')])).toEqual([
    [404, 'no-store'],
    [404, 'no-store'],
    [200, 'no-store'],
    [200, 'no-store'],
    [200, 'no-store'],
  ]);
  // What may be cached says so itself.
  expect((await gw.request('GET', '/sitemap.xml')).headers.get('cache-control')).toBe('public, max-age=60');
});

test('/o/ downloads are attachments that are never sniffed into a page', async () => {
  const res = await gw.request('GET', `/o/${objectId}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-disposition')).toBe('attachment');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('content-type')).toBe('application/octet-stream');
  expect(res.headers.get('cache-control')).toBe('public, max-age=60');
});

test('/docs cannot be framed and may call nothing but this gateway', async () => {
  const res = await gw.request('GET', '/docs');
  expect(res.status).toBe(200);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("connect-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("default-src 'none'");
  expect(res.headers.get('x-frame-options')).toBe('DENY');
});

// Regression (issue 23, item 9): the README names `malformed_json`; the REST routes answered `bad_request`.
test.each([
  ['POST', '/api/v1/repos'],
  ['POST', '/api/v1/repos/{repo}/issues'],
])('%s %s with a body that is not JSON is a 400 malformed_json that changes nothing', async (method, route) => {
  const before = await gw.fingerprint();
  const res = await fetch(`${gw.url}${route.replace('{repo}', privateId)}`, {
    method,
    headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
    body: '{"name": "half',
  });
  expect(res.status).toBe(400);
  expect((await res.json()).code).toBe('malformed_json');
  expect(await gw.fingerprint()).toBe(before);
});
