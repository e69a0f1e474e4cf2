/**
 * `npm run soak`: a concurrency soak. A two-worker `musehub serve` on a fresh embedded
 * PostgreSQL; for SOAK_SECONDS (default 120; run 600 by hand) SOAK_CLIENTS clients (default
 * 12) push, fetch, read, open issues and comment, while the owners delete and restore their
 * repos at random. At the end: no request got a 5xx, `musehub fsck` passes, and every repo
 * that ended deleted is the never-existed 404 on every route (and absent from the sitemap).
 * Exits 1 otherwise. Writes bench/results/soak.json.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { spawnGateway } from './gateway.ts';
import { packr } from './seed.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 12);
const root = path.resolve(import.meta.dirname, '..');
const REPO_404 = '{"detail":"repo not found","code":"repo_not_found"}';
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

interface User {
  name: string;
  token: string;
}
interface Repo {
  repoId: string;
  owner: User;
  slug: string;
  visibility: 'public' | 'private';
  objects: string[];
}

const statuses = new Map<number, number>();
const failures: string[] = [];
let requests = 0;

async function call(
  base: string,
  method: string,
  p: string,
  opts: { token?: string; body?: unknown; json?: boolean } = {},
) {
  const headers: Record<string, string> = { accept: 'application/x-msgpack, application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: Uint8Array | string | undefined;
  if (opts.body !== undefined) {
    if (opts.json) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    } else {
      headers['content-type'] = 'application/x-msgpack';
      body = new Uint8Array(packr.pack(opts.body));
    }
  }
  const res = await fetch(`${base}${p}`, { method, headers, body, signal: AbortSignal.timeout(60_000) });
  const bytes = Buffer.from(await res.arrayBuffer());
  requests++;
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  if (res.status >= 500) failures.push(`${res.status} ${method} ${p}: ${bytes.toString().slice(0, 300)}`);
  const type = res.headers.get('content-type') ?? '';
  const value =
    bytes.length && type.includes('msgpack')
      ? packr.unpack(bytes)
      : bytes.length && type.includes('json')
        ? JSON.parse(bytes.toString())
        : null;
  return { status: res.status, value, text: bytes.toString() };
}

function newCommit(parent: string | null) {
  const content = randomBytes(512 + Math.floor(Math.random() * 4096));
  const objectId = sha(content);
  const snapshot = {
    snapshot_id: sha(`snap-${objectId}`),
    manifest: { [`take-${objectId.slice(0, 8)}.wav`]: objectId },
    created_at: new Date().toISOString(),
  };
  const commit = {
    commit_id: sha(randomBytes(16)),
    snapshot_id: snapshot.snapshot_id,
    parent_commit_id: parent,
    parent2_commit_id: null,
    branch: 'main',
    message: 'soak',
    committed_at: new Date().toISOString(),
  };
  return { commit, snapshot, object: { object_id: objectId, content } };
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-soak-'));
  await fs.chmod(tmp, 0o711);
  const pg = await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  const dataDir = path.join(tmp, 'data');
  const gw = await spawnGateway(pg.url, dataDir, { MUSEHUB_WORKERS: '2' });
  let ok = false;
  try {
    const base = gw.url;
    const orm = await openOrm(pg.url, 2);
    const users: User[] = [];
    for (const name of ['ann', 'ben', 'cat', 'dan']) {
      await createUser(orm.em.fork(), name);
      users.push({ name, token: (await createToken(orm.em.fork(), name)).token });
    }
    await orm.close();
    const repos: Repo[] = [];
    for (let i = 0; i < 8; i++) {
      const owner = users[i % users.length]!;
      const visibility = i % 3 === 0 ? 'private' : 'public';
      const res = await call(base, 'POST', '/api/v1/repos', {
        token: owner.token,
        json: true,
        body: { name: `soak ${i}`, visibility },
      });
      if (res.status !== 201) throw new Error(`create repo: ${res.status} ${res.text}`);
      repos.push({ repoId: res.value.repoId, owner, slug: res.value.slug, visibility, objects: [] });
    }

    const actions: ((user: User) => Promise<unknown>)[] = [
      // push a commit on top of what refs says (races give 409: fine)
      async (user) => {
        const repo = pick(repos);
        const remote = `/${repo.owner.name}/${repo.slug}`;
        const refs = await call(base, 'GET', `${remote}/refs`, { token: repo.owner.token });
        if (refs.status !== 200) return;
        const { commit, snapshot, object } = newCommit(refs.value.branch_heads.main ?? null);
        const token = Math.random() < 0.8 ? repo.owner.token : user.token;
        const up = await call(base, 'POST', `${remote}/push/objects`, { token, body: { objects: [object] } });
        if (up.status !== 200) return;
        repo.objects.push(object.object_id);
        await call(base, 'POST', `${remote}/push`, {
          token,
          body: { bundle: { commits: [commit], snapshots: [snapshot], objects: [] }, branch: 'main', force: false },
        });
      },
      // clone: refs + fetch
      async (user) => {
        const repo = pick(repos);
        const remote = `/${repo.owner.name}/${repo.slug}`;
        const token = Math.random() < 0.5 ? repo.owner.token : user.token;
        const refs = await call(base, 'GET', `${remote}/refs`, { token });
        const want = refs.status === 200 ? (Object.values(refs.value.branch_heads) as string[]) : [];
        if (want.length) await call(base, 'POST', `${remote}/fetch`, { token, body: { want, have: [] } });
      },
      // hub traffic
      async (user) => {
        const repo = pick(repos);
        const created = await call(base, 'POST', `/api/v1/repos/${repo.repoId}/issues`, {
          token: user.token,
          json: true,
          body: { title: `soak issue by ${user.name}` },
        });
        const number = created.status === 201 ? created.value.number : 1;
        await call(base, 'POST', `/api/v1/repos/${repo.repoId}/issues/${number}/comments`, {
          token: user.token,
          json: true,
          body: { body: 'me too' },
        });
        await call(base, 'GET', `/api/v1/repos/${repo.repoId}/issues`, { token: user.token });
      },
      async (user) => {
        const repo = pick(repos);
        await call(base, 'GET', `/api/v1/users/${repo.owner.name}/repos/${repo.slug}`, { token: user.token });
        await call(base, 'GET', '/api/v1/repos', { token: user.token });
        // The pages a browser opens (anonymous: the repos are public), racing the deletes too.
        await call(base, 'GET', `/${repo.owner.name}/${repo.slug}`);
        await call(base, 'GET', `/${repo.owner.name}/${repo.slug}/issues`);
      },
      // delete and restore, by the owner
      async () => {
        const repo = pick(repos);
        const path_ = `/api/v1/repos/${repo.repoId}`;
        if (Math.random() < 0.5) await call(base, 'DELETE', path_, { token: repo.owner.token });
        else await call(base, 'POST', `${path_}/restore`, { token: repo.owner.token });
      },
    ];
    const weights = [4, 4, 3, 2, 1];
    const weighted = actions.flatMap((a, i) => Array.from({ length: weights[i]! }, () => a));

    const started = performance.now();
    const deadline = started + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const user = users[i % users.length]!;
        while (performance.now() < deadline) {
          try {
            await pick(weighted)(user);
          } catch (err) {
            failures.push(`client error: ${String(err)}`);
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;

    // The end state: which repos are deleted, and is each of them gone on every route?
    const db = await openOrm(pg.url, 2);
    const rows = await db.em
      .getConnection()
      .execute<{ repo_id: string; deleted: boolean }[]>(
        'SELECT repo_id, deleted_at IS NOT NULL AS deleted FROM musehub_repos',
      );
    await db.close();
    const deleted = repos.filter((r) => rows.find((x) => x.repo_id === r.repoId)?.deleted);
    const visibilityFailures: string[] = [];
    const sitemap = (await call(base, 'GET', '/sitemap.xml')).text;
    for (const repo of deleted) {
      const remote = `/${repo.owner.name}/${repo.slug}`;
      const checks: [string, string, unknown?][] = [
        ['GET', `${remote}/refs`],
        ['POST', `${remote}/fetch`, { want: ['a'.repeat(64)], have: [] }],
        ['POST', `${remote}/filter-objects`, { object_ids: [] }],
        ['POST', `${remote}/negotiate`, { want: [], have: [] }],
        ['POST', `${remote}/push/objects`, { objects: [] }],
        ['POST', `${remote}/presign`, { object_ids: [], direction: 'get' }],
        ['GET', `/api/v1/repos/${repo.repoId}`],
        ['GET', `/api/v1/users/${repo.owner.name}/repos/${repo.slug}`],
        ['GET', `/api/v1/repos/${repo.repoId}/issues`],
        ['GET', `/api/v1/repos/${repo.repoId}/forks`],
      ];
      for (const [method, p, body] of checks) {
        for (const token of [repo.owner.token, undefined]) {
          const res = await call(base, method, p, { token, body });
          if (res.status !== 404 || res.text !== REPO_404)
            visibilityFailures.push(`${method} ${p}: ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
      for (const page of [remote, `${remote}/issues`, `${remote}/commits`]) {
        const res = await call(base, 'GET', page);
        if (res.status !== 404 || !res.text.includes('<h1>Not found</h1>'))
          visibilityFailures.push(`page ${page}: ${res.status}`);
      }
      if (sitemap.includes(`${remote}<`) || sitemap.includes(`${remote}/`))
        visibilityFailures.push(`sitemap lists ${remote}`);
      for (const objectId of repo.objects) {
        const shared = repos.some((r) => r !== repo && !deleted.includes(r) && r.objects.includes(objectId));
        if (!shared && (await call(base, 'GET', `/o/${objectId}`)).status !== 404)
          visibilityFailures.push(`/o/${objectId} still served`);
      }
    }
    const fsck = await promisify(execFile)(process.execPath, [path.join(root, 'bin/musehub.mjs'), 'fsck', '--json'], {
      env: { ...process.env, DATABASE_URL: pg.url, MUSEHUB_DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
      maxBuffer: 64 * 1024 * 1024,
    }).then(
      (r) => JSON.parse(r.stdout) as { ok: boolean; problems: unknown[] },
      (err: { stdout?: string }) => JSON.parse(err.stdout ?? '{"ok":false,"problems":["fsck did not run"]}'),
    );

    const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
    const summary = {
      ranAt: new Date().toISOString(),
      seconds: Math.round(elapsed),
      clients: CLIENTS,
      workers: 2,
      requests,
      requestsPerSecond: Math.round(requests / elapsed),
      statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
      fiveXx,
      reposDeletedAtEnd: deleted.length,
      visibilityFailures,
      fsckOk: fsck.ok,
      fsckProblems: fsck.problems,
      failures: failures.slice(0, 20),
    };
    console.log(JSON.stringify(summary, null, 2));
    await fs.mkdir(path.join(root, 'bench/results'), { recursive: true });
    await fs.writeFile(path.join(root, 'bench/results/soak.json'), `${JSON.stringify(summary, null, 2)}\n`);
    ok = fiveXx === 0 && failures.length === 0 && visibilityFailures.length === 0 && fsck.ok;
    console.log(
      ok
        ? `soak passed: ${requests} requests in ${Math.round(elapsed)} s, 0 5xx, ${deleted.length} repos deleted at the end and invisible, fsck ok`
        : 'soak FAILED',
    );
  } finally {
    await gw.stop();
    await pg.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
