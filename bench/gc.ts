/**
 * Garbage collection rows (issue 25), on a database of their own and a filesystem-store gateway:
 *
 * - a hub of 100 repos × 1,000 objects with half of the repos purged: `musehub gc --grace 0s` (a
 *   real CLI process, as an operator runs it) in objects removed per second, and refs p99 while
 *   it runs against refs p99 without it, same load, same run (goal ≤ 1.5×);
 * - a repo built by 1,000 pushes of one small commit each, cloned before and after that
 *   collection repacked it, against the same shape of repo pushed in one go (goal: after
 *   repacking, within 10 %).
 *
 * `npm run bench:gc` runs these rows alone; `npm run bench` includes them.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { spawnGateway } from './gateway.ts';
import { clones } from './measure.ts';
import type { Row } from './row.ts';
import { buildRepo, packr, pushRepo } from './seed.ts';

const root = path.resolve(import.meta.dirname, '..');
const HUB_REPOS = 100;
const OBJECTS_PER_REPO = 1000;
const SMALL_PUSHES = 1000;
const CLONE_ROUNDS = 5;
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function gcRows(opts: {
  adminUrl: string;
  tmp: string;
  clonesPerRow: number;
  loadSeconds: number;
  connections: number;
}): Promise<{ rows: Row[]; notes: string[] }> {
  const databaseUrl = await createDatabase(opts.adminUrl, 'musehub_bench_gc');
  const dataDir = path.join(opts.tmp, 'data-gc');
  // No schedule: the bench runs the one collection it times.
  const gw = await spawnGateway(databaseUrl, dataDir, { MUSEHUB_WORKERS: '1', MUSEHUB_GC_INTERVAL: '0' });
  try {
    const orm = await openOrm(databaseUrl, 2);
    await createUser(orm.em.fork(), 'gc');
    const { token } = await createToken(orm.em.fork(), 'gc');
    await orm.close();
    const api = async (method: string, p: string, json?: unknown) => {
      const res = await fetch(`${gw.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: json === undefined ? undefined : JSON.stringify(json),
      });
      if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${await res.text()}`);
      return res.status === 204 ? null : res.json();
    };
    const small = () => 200 + Math.floor(Math.random() * 1800);

    // The hub: every repo its own bytes, so a purge leaves them unnamed.
    const hub: { repoId: string; slug: string }[] = [];
    for (let i = 0; i < HUB_REPOS; i++) {
      const r = await api('POST', '/api/v1/repos', { name: `hub-${i}`, visibility: 'public' });
      const repo = buildRepo({
        commits: 10,
        objects: OBJECTS_PER_REPO,
        branches: 1,
        filesPerSnapshot: 100,
        objectSize: small,
      });
      await pushRepo(`${gw.url}/gc/${r.slug}`, token, repo, 1);
      hub.push(r);
    }
    // The same shape of history, pushed one commit at a time and in one go.
    const shape = () =>
      buildRepo({ commits: SMALL_PUSHES, objects: SMALL_PUSHES, branches: 1, filesPerSnapshot: 20, objectSize: small });
    const inOneGo = shape();
    const oneGo = await api('POST', '/api/v1/repos', { name: 'one-push', visibility: 'public' });
    await pushRepo(`${gw.url}/gc/${oneGo.slug}`, token, inOneGo, 1);
    const piecemeal = shape();
    const many = await api('POST', '/api/v1/repos', { name: 'many-pushes', visibility: 'public' });
    await pushOneByOne(`${gw.url}/gc/${many.slug}`, token, piecemeal);
    // Alternating rounds, the median round's pair: one clone is ~50 ms, and a single pair of
    // runs moves ±30 % on a shared two-core machine.
    const clonePair = async (when: string) => {
      const rounds: [Row, Row & { ratio: number }][] = [];
      for (let i = 0; i < CLONE_ROUNDS; i++) {
        const one = await clones(
          gw,
          `full clone, one-push repo (${when} gc)`,
          `/gc/${oneGo.slug}`,
          head(inOneGo),
          opts.clonesPerRow,
        );
        const pieces = await clones(
          gw,
          `full clone, ${SMALL_PUSHES.toLocaleString('en')} small pushes (${when} gc)`,
          `/gc/${many.slug}`,
          head(piecemeal),
          opts.clonesPerRow,
        );
        rounds.push([
          one,
          { ...pieces, baseline: 'one-push repo clone', ratio: round(pieces.mbPerSec! / one.mbPerSec!) },
        ]);
      }
      rounds.sort((a, b) => a[1].ratio - b[1].ratio);
      return rounds[Math.floor(CLONE_ROUNDS / 2)]!;
    };
    const before = await clonePair('before');

    for (const r of hub.slice(0, HUB_REPOS / 2)) {
      await api('DELETE', `/api/v1/repos/${r.repoId}`);
      await api('POST', `/api/v1/user/deleted-repos/gc/${r.slug}/purge`);
    }
    const refsOf = `${gw.url}/gc/${hub.at(-1)!.slug}/refs`;
    const refsLoad = (seconds: number) => {
      let instance!: autocannon.Instance;
      const result = new Promise<autocannon.Result>((resolve, reject) => {
        instance = autocannon(
          {
            url: refsOf,
            duration: seconds,
            connections: opts.connections,
            headers: { accept: 'application/x-msgpack' },
          },
          (err, r) => (err ? reject(err) : resolve(r)),
        );
      });
      return { stop: () => instance.stop(), result };
    };
    const quiet = await refsLoad(opts.loadSeconds).result;
    // The same load, for exactly as long as the collection runs.
    const during = refsLoad(3600);
    const report = await runGc(databaseUrl, dataDir);
    during.stop();
    const loaded = await during.result;
    for (const r of [quiet, loaded]) {
      if (r.errors || r.non2xx) throw new Error(`refs during the gc bench: ${r.errors} errors, ${r.non2xx} non-2xx`);
    }
    const after = await clonePair('after');
    const refsRow = (scenario: string, r: autocannon.Result): Row => ({
      scenario,
      reqPerSec: Math.round(r.requests.average),
      p50ms: r.latency.p50,
      p99ms: r.latency.p99,
      errors: 0,
      peakRssMiB: 0,
      rssGrowthMiB: 0,
    });
    const rows: Row[] = [
      ...before,
      refsRow('refs, hub of 100 repos, no gc running', quiet),
      {
        ...refsRow('refs, hub of 100 repos, while gc runs', loaded),
        baseline: 'p99 without gc (goal ≤ 1.5)',
        ratio: round(loaded.latency.p99 / quiet.latency.p99, 2),
      },
      {
        scenario: `gc --grace 0s: ${HUB_REPOS / 2} of ${HUB_REPOS} repos × ${OBJECTS_PER_REPO.toLocaleString('en')} objects purged (objects removed/s)`,
        reqPerSec: Math.round(report.removed.objects / report.seconds),
        p50ms: 0,
        p99ms: 0,
        errors: 0,
        peakRssMiB: 0,
        rssGrowthMiB: 0,
      },
      ...after,
    ];
    const notes = [
      `gc: removed ${report.removed.objects} objects (${round(report.removed.bytes / 1048576, 1)} MiB) in ${round(report.seconds, 2)} s; ` +
        `${report.packs.retired} packs rewritten as ${report.packs.written}; refs p99 ${quiet.latency.p99} ms without gc, ${loaded.latency.p99} ms during ` +
        `(${loaded.requests.total} requests over ${round(loaded.duration, 1)} s); ` +
        `clone of ${SMALL_PUSHES} small pushes ${before[1].ratio} × the one-push repo before gc, ${after[1].ratio} × after (goal ≥ 0.9 after; median of ${CLONE_ROUNDS} alternating rounds)`,
    ];
    return { rows, notes };
  } finally {
    await gw.stop();
  }
}

const head = (repo: ReturnType<typeof buildRepo>) => repo.commits.at(-1)!.commit_id as string;

/** One commit per push, each with its one new object, as an agent committing file by file would. */
async function pushOneByOne(base: string, token: string, repo: ReturnType<typeof buildRepo>) {
  const headers = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/x-msgpack',
    accept: 'application/x-msgpack',
  };
  const post = async (p: string, body: unknown) => {
    const res = await fetch(`${base}${p}`, { method: 'POST', headers, body: new Uint8Array(packr.pack(body)) });
    if (!res.ok) throw new Error(`${p}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    await res.arrayBuffer();
  };
  for (const [i, commit] of repo.commits.entries()) {
    await post('/push/objects', { objects: [repo.objects[i]!] });
    await post('/push', {
      bundle: { commits: [commit], snapshots: [repo.snapshots[i]], objects: [] },
      branch: 'main',
      force: false,
    });
  }
}

interface GcReport {
  removed: { objects: number; bytes: number };
  packs: { retired: number; written: number };
  seconds: number;
}

/** `musehub gc --grace 0s --json` against the gateway's database and data directory. */
function runGc(databaseUrl: string, dataDir: string): Promise<GcReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/musehub.mjs'), 'gc', '--grace', '0s', '--json'], {
      env: { ...process.env, DATABASE_URL: databaseUrl, MUSEHUB_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`musehub gc exited ${code}: ${out}`)),
    );
  });
}

/** A fresh database on the bench's cluster; its URL. */
async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name}`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-bench-gc-'));
  await fs.chmod(tmp, 0o711);
  const db = await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  try {
    const { rows, notes } = await gcRows({
      adminUrl: db.url,
      tmp,
      clonesPerRow: Number(process.env.BENCH_CLONES ?? 3),
      loadSeconds: Number(process.env.BENCH_DURATION ?? 10),
      connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
    });
    console.table(
      rows.map((r) => ({
        scenario: r.scenario,
        'req/s': r.reqPerSec ?? '',
        'MB/s': r.mbPerSec ?? '',
        'p50 ms': r.p50ms,
        'p99 ms': r.p99ms,
        ratio: r.ratio === undefined ? '' : `${r.ratio} × ${r.baseline}`,
      })),
    );
    for (const n of notes) console.log(n);
  } finally {
    await db.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
