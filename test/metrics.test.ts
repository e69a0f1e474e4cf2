import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { createRepo } from './helpers/builders.ts';
import { startTestGateway, type TestGateway } from './helpers/gateway.ts';
import { wire } from './helpers/muse.ts';
import { eventually } from './helpers/process.ts';

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway();
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());
// Whatever a test did (deletes, restores, removals), the invariants hold afterwards.
afterEach(() => gw.expectIntegrity());

const scrape = async () => {
  const res = await gw.request('GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

/** The value of one sample line, e.g. value(text, 'musehub_db_pool_max'); NaN when absent. */
const value = (text: string, sample: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : Number.NaN;
};

test('requests by route pattern and status, cache and pool figures, tombstones by table', async () => {
  const repo = await createRepo(gw, token, { name: 'secret-song-name', visibility: 'private' });
  const remote = `/alice/${repo.slug}`;
  for (let i = 0; i < 3; i++) expect((await wire(gw, 'GET', `${remote}/refs`, undefined, { token })).status).toBe(200);
  for (let i = 0; i < 2; i++) {
    const res = await gw.request('POST', `/api/v1/repos/${repo.repoId}/issues`, { token, json: { title: `bug ${i}` } });
    expect(res.status).toBe(201);
  }
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  expect((await wire(gw, 'GET', `${remote}/refs`, undefined, { token })).status).toBe(404);

  // The delete's NOTIFY comes back to this process too.
  await eventually(async () => value(await scrape(), 'musehub_invalidations_received_total') >= 1);
  const text = await scrape();
  expect(
    value(text, 'musehub_http_request_duration_seconds_count{method="GET",route="/:owner/:slug/refs",status="200"}'),
  ).toBe(3);
  expect(
    value(text, 'musehub_http_request_duration_seconds_count{method="GET",route="/:owner/:slug/refs",status="404"}'),
  ).toBe(1);
  // A well-formed histogram: cumulative buckets ending in +Inf = _count, and a _sum.
  const refs200 = 'method="GET",route="/:owner/:slug/refs",status="200"';
  const buckets = text
    .split('\n')
    .filter((l) => l.startsWith(`musehub_http_request_duration_seconds_bucket{${refs200},le=`))
    .map((l) => Number(l.split(' ')[1]));
  expect(buckets).toHaveLength(15);
  expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
  expect(value(text, `musehub_http_request_duration_seconds_bucket{${refs200},le="+Inf"}`)).toBe(3);
  expect(value(text, `musehub_http_request_duration_seconds_sum{${refs200}}`)).toBeGreaterThan(0);
  expect(value(text, 'musehub_tombstones_written_total{table="issues"}')).toBe(2);
  expect(value(text, 'musehub_repo_cache_hits_total')).toBeGreaterThanOrEqual(2);
  expect(value(text, 'musehub_repo_cache_misses_total')).toBeGreaterThanOrEqual(1);
  expect(value(text, 'musehub_repo_cache_evictions_total')).toBeGreaterThanOrEqual(1);
  expect(value(text, 'musehub_refs_cache_hits_total')).toBeGreaterThanOrEqual(2);
  expect(value(text, 'musehub_token_cache_hits_total')).toBeGreaterThanOrEqual(1);
  expect(value(text, 'musehub_db_pool_max')).toBe(10);
  expect(value(text, 'musehub_db_pool_used')).toBeGreaterThanOrEqual(0);
  // A compressed body is refused by the outermost middleware, and still counted with its status
  // under the route it was sent to; a path no route matches is "unmatched".
  const gz = await gw.request('POST', `${remote}/fetch`, { headers: { 'content-encoding': 'gzip' }, json: {} });
  expect(gz.status).toBe(415);
  expect(
    value(
      await scrape(),
      'musehub_http_request_duration_seconds_count{method="POST",route="/:owner/:slug/fetch",status="415"}',
    ),
  ).toBe(1);
  expect((await gw.request('GET', '/no/such/route/here')).status).toBe(404);
  expect(
    value(await scrape(), 'musehub_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}'),
  ).toBe(1);
  // Labels are route patterns: no repo name (private, and now deleted) leaks into metrics.
  expect(text).not.toContain('secret-song-name');
  expect(text).not.toContain(repo.repoId);
});

// Regression (issue 23, item 2): /metrics was open to anyone, and its cache hits and misses told
// a stranger whether a private repo exists.
test('with MUSEHUB_METRICS_TOKEN, /metrics needs that token from everywhere, loopback included', async () => {
  const secured = await startTestGateway({ MUSEHUB_METRICS_TOKEN: 'operators-only-0123456789' });
  try {
    const get = (auth?: string) => secured.request('GET', '/metrics', { headers: auth ? { authorization: auth } : {} });
    for (const auth of [undefined, 'Bearer wrong', 'Bearer operators-only-012345678', `Bearer ${token}`]) {
      const res = await get(auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect((await res.json()).detail).toMatch(/MUSEHUB_METRICS_TOKEN/);
    }
    const ok = await get('Bearer operators-only-0123456789');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('musehub_http_request_duration_seconds');
  } finally {
    await secured.close();
  }
});
