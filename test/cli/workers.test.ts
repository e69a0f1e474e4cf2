import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { migrationsList } from '../../src/migrations/index.ts';
import { createRepo } from '../helpers/builders.ts';
import { createTestDatabase, sql, userWithToken } from '../helpers/db.ts';
import { remoteGateway } from '../helpers/gateway.ts';
import { makeCommit, makeSnapshot, pushAll, wirePackr } from '../helpers/muse.ts';
import { eventually, exited, runCli, startServe } from '../helpers/process.ts';

/**
 * `musehub serve --workers 2` on one database. Each worker caches liveness and heads for ten
 * minutes; a keep-alive connection with one socket stays on one worker, so each cache can be
 * watched on its own. Whichever worker handles a push or delete, the other one can only learn
 * of it through NOTIFY.
 */
let server: ChildProcess;
let url: string;
let dataDir: string;
let token: string;
let agents: http.Agent[] = [];

/** GET over one pinned keep-alive connection. */
function get(agent: http.Agent, p: string, base = url): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}${p}`, { agent, headers: { accept: 'application/x-msgpack' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      })
      .on('error', reject)
      // A connection handed to a worker that just died must fail, not hang the test.
      .setTimeout(5_000, function (this: http.ClientRequest) {
        this.destroy(new Error('timed out'));
      });
  });
}

const pidOf = async (agent: http.Agent) => JSON.parse((await get(agent, '/health')).body.toString()).pid as number;

let databaseUrl: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  token = await userWithToken(databaseUrl, 'alice');
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-workers-'));
  ({ child: server, url } = await startServe(
    {
      DATABASE_URL: databaseUrl,
      MUSEHUB_DATA_DIR: dataDir,
      MUSEHUB_REPO_CACHE_TTL_MS: '600000',
    },
    ['--workers', '2'],
    // The primary's line, once both workers listen.
    /"url":"(http:\/\/[^"]+)","workers":2[^\n]*"gateway listening"/,
  ));
  // One pinned connection per worker.
  const byPid = new Map<number, http.Agent>();
  for (let i = 0; i < 20 && byPid.size < 2; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const pid = await pidOf(agent);
    if (byPid.has(pid)) agent.destroy();
    else byPid.set(pid, agent);
  }
  agents = [...byPid.values()];
});

// Whatever a test did (pushes, deletes through either worker), the invariants hold afterwards.
afterEach(async () => {
  const fsck = await runCli(['fsck', '--json'], { DATABASE_URL: databaseUrl, MUSEHUB_DATA_DIR: dataDir });
  expect(JSON.parse(fsck.stdout).problems).toEqual([]);
  expect(fsck.code).toBe(0);
});

afterAll(async () => {
  for (const a of agents) a.destroy();
  server?.kill('SIGTERM');
  if (server) await exited(server);
  await fs.rm(dataDir, { recursive: true, force: true });
});

// pushAll and createRepo only need a url and fetch: any worker may serve them.
const viaAnyWorker = () => remoteGateway(url);

const headsOn = async (agent: http.Agent, remote: string) => {
  const res = await get(agent, `${remote}/refs`);
  return res.status === 200
    ? (wirePackr.unpack(res.body) as { branch_heads: Record<string, string> }).branch_heads
    : null;
};

test('two workers answer on one port, each with its own pid and health', async () => {
  expect(agents).toHaveLength(2);
  const pids = await Promise.all(agents.map(pidOf));
  expect(new Set(pids).size).toBe(2);
  for (const pid of pids) expect(pid).not.toBe(server.pid);
});

test('a push and a delete through one worker are seen by the other well inside its cache TTL', async () => {
  const gw = viaAnyWorker();
  const repo = await createRepo(gw, token, { name: 'shared', visibility: 'public' });
  const remote = `/alice/${repo.slug}`;
  const one = makeSnapshot({ 'a.txt': 'one' });
  const c1 = makeCommit({ snapshotId: one.snapshot.snapshot_id });
  expect(
    (await pushAll(gw, remote, token, { commits: [c1], snapshots: [one.snapshot], objects: one.objects })).status,
  ).toBe(200);
  // Both workers now cache main = c1 (for ten minutes, unless told otherwise).
  for (const agent of agents) await eventually(async () => (await headsOn(agent, remote))?.main === c1.commit_id);

  const two = makeSnapshot({ 'a.txt': 'two' });
  const c2 = makeCommit({ snapshotId: two.snapshot.snapshot_id, parent: c1.commit_id });
  expect(
    (await pushAll(gw, remote, token, { commits: [c2], snapshots: [two.snapshot], objects: two.objects })).status,
  ).toBe(200);
  const t0 = performance.now();
  for (const agent of agents)
    await eventually(async () => (await headsOn(agent, remote))?.main === c2.commit_id, 2_000, 2);
  const pushSeenMs = performance.now() - t0;

  expect((await viaAnyWorker().request('DELETE', `/api/v1/repos/${repo.repoId}`, { token })).status).toBe(204);
  const t1 = performance.now();
  for (const agent of agents)
    await eventually(async () => (await get(agent, `${remote}/refs`)).status === 404, 2_000, 2);
  const deleteSeenMs = performance.now() - t1;
  console.log(`workers: push seen by both in ${pushSeenMs.toFixed(1)} ms, delete in ${deleteSeenMs.toFixed(1)} ms`);
});

test('/metrics on either worker answers for both: request counts are summed across the cluster', async () => {
  const sample = (text: string) =>
    Number(
      /musehub_http_request_duration_seconds_count\{method="GET",route="\/health",status="200"\} (\d+)/.exec(
        text,
      )?.[1] ?? Number.NaN,
    );
  const before = await Promise.all(agents.map(async (a) => sample((await get(a, '/metrics')).body.toString())));
  // The same cluster-wide figure whichever worker answers.
  expect(before[0]).toBe(before[1]);
  for (const agent of agents) for (let i = 0; i < 3; i++) await get(agent, '/health');
  const after = sample((await get(agents[1]!, '/metrics')).body.toString());
  expect(after - before[0]!).toBe(6);
});

test('a worker that dies is replaced: the port keeps answering with two workers', async () => {
  const [victim, survivor] = await Promise.all(agents.map(pidOf));
  process.kill(victim!, 'SIGKILL');
  // A fresh connection reaches either the survivor or the replacement; wait until both answer.
  const seen = new Set<number>();
  await eventually(async () => {
    const agent = new http.Agent({ keepAlive: false });
    try {
      seen.add(await pidOf(agent));
    } finally {
      agent.destroy();
    }
    return seen.size >= 2 && [...seen].some((p) => p !== victim && p !== survivor);
  }, 30_000);
  expect(seen.has(victim!)).toBe(false);
  expect(seen).toContain(survivor);
  const replacement = [...seen].find((p) => p !== survivor)!;
  expect(replacement).not.toBe(server.pid);
  // The replacement serves the hub, not just /health.
  const repo = await createRepo(viaAnyWorker(), token, { name: 'after the crash', visibility: 'public' });
  expect(repo.slug).toBe('after-the-crash');
  // Re-pin one connection per live worker for the tests after this one.
  for (const a of agents) a.destroy();
  const byPid = new Map<number, http.Agent>();
  await eventually(async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const pid = await pidOf(agent);
    if (byPid.has(pid)) agent.destroy();
    else byPid.set(pid, agent);
    return byPid.size === 2;
  }, 30_000);
  agents = [...byPid.values()];
});

test('SIGTERM drains both workers and the primary exits 0', async () => {
  server.kill('SIGTERM');
  expect(await exited(server)).toBe(0);
  await expect(get(agents[0]!, '/health')).rejects.toThrow();
});

test('on an empty database the workers migrate it, one at a time: every migration applied once, both serve', async () => {
  const empty = await createTestDatabase({ empty: true });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-workers-empty-'));
  const { child, url: freshUrl } = await startServe(
    { DATABASE_URL: empty, MUSEHUB_DATA_DIR: dir },
    ['--workers', '2'],
    /"url":"(http:\/\/[^"]+)","workers":2[^\n]*"gateway listening"/,
  );
  try {
    const applied = await sql<{ name: string }>(empty, 'SELECT name FROM musehub_migrations ORDER BY name');
    expect(applied.map((r) => r.name)).toEqual(migrationsList.map((m) => m.name).sort());
    const pids = new Set<number>();
    // A new connection each time: the primary hands connections to the workers in turn.
    await eventually(async () => {
      const agent = new http.Agent({ keepAlive: false });
      const res = await get(agent, '/health', freshUrl);
      agent.destroy();
      expect(res.status).toBe(200);
      pids.add(JSON.parse(res.body.toString()).pid);
      return pids.size === 2;
    });
  } finally {
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    await fs.rm(dir, { recursive: true, force: true });
  }
});
