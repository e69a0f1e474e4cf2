import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { openOrm } from '../../src/database.ts';
import { createToken, createUser } from '../../src/users/index.ts';
import { createTestDatabase, sql } from '../helpers/db.ts';
import type { TestGateway } from '../helpers/gateway.ts';
import { makeCommit, type makeObject, makeSnapshot, pushAll, wire, wirePackr } from '../helpers/muse.ts';
import { eventually, exited, runCli, startServe } from '../helpers/process.ts';

/**
 * SIGKILL of a real `musehub serve` process at several points of a large push. After a
 * restart: fsck passes, the branch head is the old one (or, had the commit landed, the new
 * one — never anything else), the dead process's temp files are gone, and the retried push
 * succeeds.
 */
let databaseUrl: string;
let dataDir: string;
let token: string;
let server: ChildProcess | undefined;
let url: string;

async function startServer() {
  ({ child: server, url } = await startServe({
    DATABASE_URL: databaseUrl,
    MUSEHUB_DATA_DIR: dataDir,
    MUSEHUB_WORKERS: '1',
  }));
}

async function kill() {
  server!.kill('SIGKILL');
  await exited(server!);
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-crash-'));
  const orm = await openOrm(databaseUrl, 2);
  await createUser(orm.em.fork(), 'alice');
  ({ token } = await createToken(orm.em.fork(), 'alice'));
  await orm.close();
  await startServer();
});
afterAll(async () => {
  if (server && server.exitCode === null) await kill();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const gw = () => ({ url }) as TestGateway;
const fsck = async () => {
  const res = await runCli(['fsck', '--json'], { DATABASE_URL: databaseUrl, MUSEHUB_DATA_DIR: dataDir });
  expect(res.code, res.stdout).toBe(0);
  return JSON.parse(res.stdout) as { ok: boolean };
};
const heads = async (remote: string) =>
  (await wire(gw(), 'GET', `${remote}/refs`)).body.branch_heads as Record<string, string>;

async function newRepo(name: string) {
  const res = await fetch(`${url}/api/v1/repos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, visibility: 'public' }),
  });
  expect(res.status).toBe(201);
  const repo = (await res.json()) as { repoId: string; slug: string };
  const remote = `/alice/${repo.slug}`;
  const base = makeSnapshot({ 'base.txt': name });
  const c0 = makeCommit({ snapshotId: base.snapshot.snapshot_id });
  expect(
    (await pushAll(gw(), remote, token, { commits: [c0], snapshots: [base.snapshot], objects: base.objects })).status,
  ).toBe(200);
  // The next push: 150 new 64 KiB objects on top of c0.
  const files = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`stems/${i}.wav`, randomBytes(64 * 1024)]));
  const next = makeSnapshot(files);
  const c1 = makeCommit({ snapshotId: next.snapshot.snapshot_id, parent: c0.commit_id });
  return { repo, remote, c0, c1, next };
}

/** The push the crash interrupted, sent again: it lands, and the hub is still consistent. */
async function retrySucceeds(
  remote: string,
  c1: { commit_id: string },
  next: { snapshot: object; objects: ReturnType<typeof makeObject>[] },
) {
  const retried = await pushAll(gw(), remote, token, {
    commits: [c1],
    snapshots: [next.snapshot],
    objects: next.objects,
  });
  expect(retried.status).toBe(200);
  expect((await heads(remote)).main).toBe(c1.commit_id);
  expect((await fsck()).ok).toBe(true);
}

const postObjects = (remote: string, objects: ReturnType<typeof makeObject>[]) =>
  fetch(`${url}${remote}/push/objects`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-msgpack',
      accept: 'application/x-msgpack',
    },
    body: new Uint8Array(wirePackr.pack({ objects })),
  });

test('killed while writing uploaded objects: restart, fsck passes, head unchanged, temp files gone, retry succeeds', async () => {
  const { remote, c0, c1, next } = await newRepo('during upload');
  const tmpDir = path.join(dataDir, 'objects', 'tmp');
  const pid = server!.pid!;
  const ours = async () => (await fs.readdir(tmpDir).catch(() => [])).filter((f) => f.startsWith(`${pid}-`));
  const upload = postObjects(remote, next.objects).then(
    (res) => res.status,
    () => 'connection lost' as const,
  );
  // Freeze the process the moment one of this upload's temp files exists, so it is still
  // there (half written, not yet renamed) when the process dies.
  await eventually(async () => (await ours()).length > 0, 20_000, 1);
  server!.kill('SIGSTOP');
  const leftBehind = await ours();
  expect(leftBehind.length).toBeGreaterThan(0);
  await kill();
  expect(await upload).toBe('connection lost');
  expect(await ours()).toEqual(leftBehind);

  await startServer();
  expect(await ours()).toEqual([]);
  expect((await fsck()).ok).toBe(true);
  expect((await heads(remote)).main).toBe(c0.commit_id);
  await retrySucceeds(remote, c1, next);
});

/** Holds a row lock from outside so the push blocks at a chosen statement inside its transaction. */
async function killWhilePushWaitsOn(lockSql: string, waitsAt: RegExp, name: string) {
  const { repo, remote, c0, c1, next } = await newRepo(name);
  const up = await postObjects(remote, next.objects);
  expect(up.status).toBe(200);
  const blocker = new pg.Client({ connectionString: databaseUrl });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query(lockSql, [repo.repoId]);
    const push = wire(
      gw(),
      'POST',
      `${remote}/push`,
      {
        bundle: { commits: [c1], snapshots: [next.snapshot], objects: [] },
        branch: 'main',
        force: false,
      },
      { token },
    ).then(
      (r) => r.status,
      () => 'connection lost' as const,
    );
    // The push's transaction is now waiting on our lock at the intended statement, its
    // earlier statements executed.
    const [{ pid: blockerPid }] = (await blocker.query('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    await eventually(
      async () => {
        const rows = await sql<{ query: string }>(
          databaseUrl,
          `SELECT query FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND state = 'active'
              AND $1 = ANY (pg_blocking_pids(pid))`,
          [blockerPid],
        );
        return rows.some((r) => waitsAt.test(r.query));
      },
      20_000,
      5,
    );
    await kill();
    expect(await push).toBe('connection lost');
  } finally {
    await blocker.query('ROLLBACK');
    await blocker.end();
  }
  await startServer();
  expect((await fsck()).ok).toBe(true);
  // Never half a push: the old head, and none of the new commit's rows.
  expect((await heads(remote)).main).toBe(c0.commit_id);
  const rows = await sql<{ n: number }>(
    databaseUrl,
    'SELECT count(*)::int AS n FROM musehub_commits WHERE repo_id = $1 AND commit_id = $2',
    [repo.repoId, c1.commit_id],
  );
  expect(rows[0]!.n).toBe(0);
  await retrySucceeds(remote, c1, next);
}

test('killed in the push transaction before it writes (waiting for the branch lock)', async () => {
  await killWhilePushWaitsOn(
    `SELECT 1 FROM musehub_branches WHERE repo_id = $1 AND name = 'main' FOR UPDATE`,
    /^SELECT head_commit_id FROM musehub_branches .* FOR UPDATE$/,
    'before writes',
  );
});

test('killed in the push transaction after its commit and snapshot rows are written, before COMMIT', async () => {
  // The push's last statement updates the repo row (pushed_at): hold that row so it waits there.
  await killWhilePushWaitsOn(
    `SELECT 1 FROM musehub_repos WHERE repo_id = $1 FOR NO KEY UPDATE`,
    /^UPDATE musehub_repos SET pushed_at/,
    'after writes',
  );
});
