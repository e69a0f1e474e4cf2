/**
 * `npm run bench`: the reference benchmark. Starts a gateway (its own process) on a fresh
 * embedded PostgreSQL, seeds a realistic repo, drives each scenario with autocannon from
 * this process, and compares against baselines measured in the same run. Writes
 * bench/results/latest.json and prints a table.
 *
 * BENCH_DURATION (seconds per scenario, default 10), BENCH_CONNECTIONS (default 50).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { openOrm } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { measureCascade } from './cascade.ts';
import { buildRepo, packr, pushRepo } from './seed.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const root = path.resolve(import.meta.dirname, '..');

interface Row {
  scenario: string;
  reqPerSec: number;
  mbPerSec: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
  baseline?: string;
  ratio?: number;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const m = pattern.exec(buf);
      if (m) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${buf}`)));
  });
}

async function waitHealthy(url: string) {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('gateway did not become healthy');
}

async function run(name: string, opts: autocannon.Options): Promise<Row> {
  const result = await autocannon({ duration: DURATION, connections: CONNECTIONS, ...opts });
  return {
    scenario: name,
    reqPerSec:
      result.requests.average < 100
        ? Math.round(result.requests.average * 10) / 10
        : Math.round(result.requests.average),
    mbPerSec: Math.round((result.throughput.average / 1024 / 1024) * 10) / 10,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-bench-'));
  await fs.chmod(tmp, 0o711); // the embedded PostgreSQL (user postgres) must reach tmp/db
  const children: ChildProcess[] = [];
  const pg = await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  try {
    const port = await freePort();
    const gateway = spawn(process.execPath, [path.join(root, 'bin/musehub.mjs'), 'serve'], {
      env: {
        ...process.env,
        DATABASE_URL: pg.url,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        MUSEHUB_DATA_DIR: path.join(tmp, 'data'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(gateway);
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(base);

    const orm = await openOrm(pg.url, 2);
    await createUser(orm.em.fork(), 'bench');
    const { token } = await createToken(orm.em.fork(), 'bench');
    await orm.close();
    const auth = { authorization: `Bearer ${token}` };
    const created = await fetch(`${base}/api/v1/repos`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', visibility: 'public' }),
    });
    if (!created.ok) throw new Error(await created.text());
    const remote = `${base}/bench/bench`;

    const seedStarted = performance.now();
    const repo = buildRepo({ commits: 1000, objects: 5000, branches: 20, filesPerSnapshot: 50 });
    await pushRepo(remote, token, repo, 20);
    const totalBytes = repo.objects.reduce((n, o) => n + o.content.length, 0);
    console.log(
      `seeded 1000 commits, 5000 objects (${(totalBytes / 1024 / 1024).toFixed(1)} MiB), 20 branches in ${Math.round(performance.now() - seedStarted)} ms`,
    );

    const refsBytes = Buffer.from(
      await (await fetch(`${remote}/refs`, { headers: { accept: 'application/x-msgpack' } })).arrayBuffer(),
    );
    const baseline = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(root, 'bench/baseline-server.ts'), refsBytes.toString('base64')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(baseline);
    const baselinePort = Number((await waitForLine(baseline, /listening (\d+)/))[1]);

    const msgpack = { accept: 'application/x-msgpack', 'content-type': 'application/x-msgpack' };
    const rows: Row[] = [];
    // Warm both servers before measuring.
    await run('warm-up', { url: `${remote}/refs`, duration: 3, headers: msgpack });
    const bare = await run('bare Hono refs bytes (baseline)', {
      url: `http://127.0.0.1:${baselinePort}/refs`,
      headers: msgpack,
    });
    rows.push(bare);
    const withBaseline = (row: Row, of: Row, label: string): Row => ({
      ...row,
      baseline: label,
      ratio: Math.round((row.reqPerSec / of.reqPerSec) * 100) / 100,
    });

    rows.push(
      withBaseline(
        await run('refs (ls-remote), anonymous', { url: `${remote}/refs`, headers: msgpack }),
        bare,
        'bare Hono',
      ),
    );
    rows.push(
      withBaseline(
        await run('refs (ls-remote), with token', { url: `${remote}/refs`, headers: { ...msgpack, ...auth } }),
        bare,
        'bare Hono',
      ),
    );

    const head = repo.commits.at(-1)!.commit_id as string;
    const cloneBody = Buffer.from(packr.pack({ want: [head], have: [] }));
    rows.push(
      await run('full clone (fetch, have=[])', {
        url: `${remote}/fetch`,
        method: 'POST',
        headers: msgpack,
        body: cloneBody,
        connections: 2,
      }),
    );
    const incBody = Buffer.from(
      packr.pack({ want: [head], have: repo.commits.slice(0, -1).map((c) => c.commit_id as string) }),
    );
    rows.push(
      await run('incremental fetch (1 new commit, have=999)', {
        url: `${remote}/fetch`,
        method: 'POST',
        headers: msgpack,
        body: incBody,
        connections: 10,
      }),
    );

    const filterBody = Buffer.from(packr.pack({ object_ids: repo.objects.map((o) => o.object_id) }));
    rows.push(
      await run('filter-objects (5,000 ids)', {
        url: `${remote}/filter-objects`,
        method: 'POST',
        headers: { ...msgpack, ...auth },
        body: filterBody,
        connections: 10,
      }),
    );

    rows.push(
      await run('push/objects (100 new 4 KiB objects)', {
        url: `${remote}/push/objects`,
        method: 'POST',
        headers: { ...msgpack, ...auth },
        connections: 4,
        requests: [
          {
            setupRequest: (req) => ({ ...req, body: freshObjectsBody() }),
          },
        ],
      }),
    );

    const cascadeOrm = await openOrm(pg.url, 4);
    const cascade = await measureCascade(cascadeOrm).finally(() => cascadeOrm.close());
    const bytesCopied = await fileCopyRate(tmp);
    const table = rows
      .filter((r) => r.scenario !== 'warm-up')
      .map((r) => ({
        scenario: r.scenario,
        'req/s': r.reqPerSec,
        'MB/s': r.mbPerSec,
        'p50 ms': r.p50ms,
        'p99 ms': r.p99ms,
        'errors/non-2xx': `${r.errors}/${r.non2xx}`,
        'ratio to baseline': r.ratio ?? '',
      }));
    console.table(table);
    console.log(`file copy baseline (same disk): ${bytesCopied.toFixed(0)} MB/s`);
    console.log(
      `cascade delete of 10,000 issues + 100,000 comments: ${cascade.softDeleteMs} ms (${cascade.rowsPerSec} rows/s, repo row locked ${cascade.lockedMs} ms); ` +
        `hand-written SQL UPDATE of the same rows: ${cascade.handSqlMs} ms (${cascade.handSqlRowsPerSec} rows/s); ratio ${cascade.ratio}`,
    );
    const result = {
      ranAt: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memGiB: Math.round(os.totalmem() / 1024 ** 3),
        node: process.version,
      },
      durationSeconds: DURATION,
      connections: CONNECTIONS,
      seed: { commits: 1000, objects: 5000, branches: 20, totalMiB: Math.round(totalBytes / 1024 / 1024) },
      fileCopyMBps: Math.round(bytesCopied),
      cascade,
      rows,
    };
    await fs.mkdir(path.join(root, 'bench/results'), { recursive: true });
    await fs.writeFile(path.join(root, 'bench/results/latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    await pg.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A push/objects body of 100 fresh 4 KiB objects: every request uploads new content. */
function freshObjectsBody() {
  const objects = Array.from({ length: 100 }, () => {
    const content = randomBytes(4096);
    return { object_id: sha256(content), content };
  });
  return Buffer.from(packr.pack({ objects }));
}

/** MB/s of copying a 64 MiB file on the disk the object store uses: the ceiling for object transfer. */
async function fileCopyRate(dir: string): Promise<number> {
  const src = path.join(dir, 'copy-src');
  await fs.writeFile(src, randomBytes(64 * 1024 * 1024));
  const started = performance.now();
  for (let i = 0; i < 3; i++) await fs.copyFile(src, path.join(dir, `copy-${i}`));
  const seconds = (performance.now() - started) / 1000;
  return (3 * 64 * 1.048576) / seconds;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
