import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createRepo } from '../helpers/builders.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll } from '../helpers/muse.ts';
import { eventually } from '../helpers/process.ts';

/** The gateway collects garbage on its own schedule (MUSEHUB_GC_INTERVAL) and says so in /metrics. */
let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({ MUSEHUB_GC_INTERVAL: '1s', MUSEHUB_GC_GRACE: '0s' });
  ({ token } = await gw.user('alice'));
});
afterAll(() => gw?.close());

const metric = async (name: string) => {
  const text = await (await gw.request('GET', '/metrics')).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
};

test('a purged repo’s bytes are removed by the scheduled collection; /metrics counts them and the repos awaiting purge', async () => {
  const repo = await createRepo(gw, token, { name: 'scheduled away' });
  const { snapshot, objects } = makeSnapshot({ 'a.wav': randomBytes(3000), 'b.txt': randomBytes(40) });
  const commit = makeCommit({ snapshotId: snapshot.snapshot_id });
  expect(
    (await pushAll(gw, `/alice/${repo.slug}`, token, { commits: [commit], snapshots: [snapshot], objects })).status,
  ).toBe(200);
  expect(await metric('musehub_repos_awaiting_purge')).toBe(0);
  expect((await gw.request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  expect(await metric('musehub_repos_awaiting_purge')).toBe(1);
  // Deleted, still restorable: collections keep its bytes.
  const ranBefore = await metric('musehub_gc_last_run_timestamp_seconds');
  await eventually(async () => (await metric('musehub_gc_last_run_timestamp_seconds')) > ranBefore, 30_000);
  for (const o of objects) expect(await gw.store.has(o.object_id)).toBe(true);

  expect((await gw.request('POST', `/api/v1/user/deleted-repos/alice/${repo.slug}/purge`, { token })).status).toBe(200);
  expect(await metric('musehub_repos_awaiting_purge')).toBe(0);
  await eventually(async () => {
    for (const o of objects) if (await gw.store.has(o.object_id)) return false;
    return true;
  }, 30_000);
  const bytes = objects.reduce((n, o) => n + o.content.length, 0);
  await eventually(async () => (await metric('musehub_gc_reclaimed_bytes_total')) >= bytes, 30_000);
  expect(await metric('musehub_gc_reclaimed_objects_total')).toBeGreaterThanOrEqual(objects.length);
  expect(await metric('musehub_gc_last_run_duration_seconds')).toBeGreaterThan(0);
});

test('MUSEHUB_GC_INTERVAL and MUSEHUB_GC_GRACE take durations; 0 turns the schedule off; anything else is refused', () => {
  expect(loadConfig({}).gc).toEqual({ intervalMs: 86_400_000, graceMs: 3_600_000 });
  expect(loadConfig({ MUSEHUB_GC_INTERVAL: '0', MUSEHUB_GC_GRACE: '30m' }).gc).toEqual({
    intervalMs: 0,
    graceMs: 1_800_000,
  });
  expect(() => loadConfig({ MUSEHUB_GC_INTERVAL: 'daily' })).toThrow(
    /MUSEHUB_GC_INTERVAL.*expected a number and a unit \(s, m, h, d\) such as 24h, or 0/,
  );
});
