import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import type autocannon from 'autocannon';
import { aptInstall } from '../test/helpers/apt.ts';
import { startNginx } from '../test/helpers/nginx.ts';
import { createTestCa } from '../test/helpers/tls.ts';
import { type BenchGateway, childPids, freePort, spawnGateway } from './gateway.ts';
import type { Row } from './row.ts';
import { packr } from './seed.ts';

const run = promisify(execFile);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_HTTPS_ROUNDS ?? 3);

type Load = (gw: Pick<BenchGateway, 'pids'> | null, scenario: string, opts: autocannon.Options) => Promise<Row>;

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

/** CPU seconds (user + system) a set of processes has used so far, from /proc (Linux, 100 Hz ticks). */
async function cpuSeconds(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / 100;
}

/**
 * Runs `work` and adds the CPU the server's processes spent per unit of it: when the load
 * generator (which decrypts too, on the same two cores) is the bottleneck, requests per second
 * understate a TLS server, but its CPU per request does not.
 */
async function withCpu<T extends { units: number }>(pids: () => number[], work: () => Promise<T>) {
  const before = await cpuSeconds(pids());
  const result = await work();
  const used = (await cpuSeconds(pids())) - before;
  return { ...result, cpuMsPerUnit: (used * 1000) / Math.max(1, result.units) };
}

/**
 * The cost of HTTPS, measured in the same run: refs (keep-alive, autocannon) and full clones of
 * the reference repo (curl, one connection per clone as the muse client makes) against the same
 * gateway, data and database over plain HTTP; and through nginx (deploy/nginx-musehub.conf: TLS
 * at nginx, HTTP to the gateway) against the gateway's own TLS. Clones are timed with curl, not
 * this process's fetch, so the client is not the bottleneck (its MB/s is printed beside it).
 */
export async function httpsRows(ctx: {
  load: Load;
  http: BenchGateway;
  pgUrl: string;
  dataDir: string;
  tmp: string;
  remote: string;
  head: string;
  clones: number;
}): Promise<{ rows: Row[]; notes: string[] }> {
  if (!existsSync('/usr/bin/curl')) await aptInstall(['curl'], 'the HTTPS bench times clones with curl');
  const ca = await createTestCa();
  const pair = await ca.issue('127.0.0.1', { names: ['127.0.0.1'] });
  // This process's own clients (autocannon, fetch) trust the test CA like any public one.
  // (Node ≥ 24.5; @types/node is pinned at 20 for the engines floor.)
  const tlsDefaults = tls as unknown as {
    getCACertificates(kind: 'default'): string[];
    setDefaultCACertificates(certs: string[]): void;
  };
  tlsDefaults.setDefaultCACertificates([...tlsDefaults.getCACertificates('default'), ca.ca.toString()]);
  const rows: Row[] = [];
  const notes: string[] = [];
  const msgpack = { accept: 'application/x-msgpack' };
  const body = path.join(ctx.tmp, 'clone-request');
  await fs.writeFile(body, packr.pack({ want: [ctx.head], have: [] }));
  const tlsGw = await spawnGateway(ctx.pgUrl, ctx.dataDir, {
    MUSEHUB_WORKERS: '1',
    MUSEHUB_TLS_CERT: pair.chainPath,
    MUSEHUB_TLS_KEY: pair.keyPath,
  });
  const nginxPort = await freePort();
  const nginx = await startNginx({
    listen: { host: '127.0.0.1', port: nginxPort },
    redirectPort: await freePort(),
    upstream: new URL(ctx.http.url).host,
    serverName: '127.0.0.1',
    certPath: pair.chainPath,
    keyPath: pair.keyPath,
  });
  const viaNginx = `https://127.0.0.1:${nginxPort}`;
  try {
    const nginxPids = () => [nginx.child.pid!, ...childPids(nginx.child.pid!)];
    const nginxSide = { pids: () => [...ctx.http.pids(), ...nginxPids()] };
    const targets = [
      ['refs over HTTP, keep-alive (baseline for HTTPS)', ctx.http.url, ctx.http],
      ['refs over HTTPS (native TLS), keep-alive', tlsGw.url, tlsGw],
      ['refs over HTTPS through nginx, keep-alive', viaNginx, nginxSide],
    ] as const;
    for (const [, base, gw] of targets) {
      await ctx.load(gw, 'warm-up', { url: `${base}${ctx.remote}/refs`, duration: 3, headers: msgpack });
    }
    // Interleaved rounds (HTTP, HTTPS, nginx, HTTP, …): this machine's figures drift from one
    // minute to the next; each target's best round is kept.
    type Measured = Row & { cpuMsPerUnit: number };
    const best = new Map<string, Measured>();
    for (let i = 0; i < ROUNDS; i++) {
      for (const [scenario, base, gw] of targets) {
        const row = await withCpu(gw.pids, async () => {
          const r = await ctx.load(gw, scenario, { url: `${base}${ctx.remote}/refs`, headers: msgpack });
          return { ...r, units: (r.reqPerSec ?? 0) * DURATION };
        });
        if ((best.get(scenario)?.reqPerSec ?? 0) < (row.reqPerSec ?? 0)) best.set(scenario, row);
      }
    }
    const [httpRefs, httpsRefs, nginxRefs] = targets.map(([scenario]) => best.get(scenario)!) as [
      Measured,
      Measured,
      Measured,
    ];
    rows.push(httpRefs);
    rows.push({ ...httpsRefs, baseline: 'refs over HTTP', ratio: round(httpsRefs.reqPerSec! / httpRefs.reqPerSec!) });
    rows.push({
      ...nginxRefs,
      baseline: 'refs over native HTTPS',
      ratio: round(nginxRefs.reqPerSec! / httpsRefs.reqPerSec!),
    });
    notes.push(
      `HTTPS refs, server CPU per request: HTTP ${round(httpRefs.cpuMsPerUnit * 1000, 0)} µs, native TLS ${round(httpsRefs.cpuMsPerUnit * 1000, 0)} µs ` +
        `(capacity ${round(httpRefs.cpuMsPerUnit / httpsRefs.cpuMsPerUnit)} × HTTP's when the gateway is the bottleneck), ` +
        `nginx + gateway ${round(nginxRefs.cpuMsPerUnit * 1000, 0)} µs`,
    );

    const curlClones = async (base: string, scenario: string): Promise<Row & { units: number }> => {
      const times: number[] = [];
      const firsts: number[] = [];
      let bytes = 0;
      for (let i = 0; i < ctx.clones + 1; i++) {
        const { stdout } = await run('curl', [
          '-sS',
          '--fail',
          '-o',
          '/dev/null',
          '-w',
          '%{time_starttransfer} %{time_total} %{size_download}',
          '--cacert',
          ca.caPath,
          '-H',
          'content-type: application/x-msgpack',
          '-H',
          'accept: application/x-msgpack',
          '--data-binary',
          `@${body}`,
          `${base}${ctx.remote}/fetch`,
        ]);
        if (i === 0) continue; // warm-up
        const [first, total, size] = stdout.trim().split(' ').map(Number) as [number, number, number];
        firsts.push(first * 1000);
        times.push(total * 1000);
        bytes += size;
      }
      times.sort((a, b) => a - b);
      firsts.sort((a, b) => a - b);
      const seconds = times.reduce((a, b) => a + b, 0) / 1000;
      return {
        scenario,
        mbPerSec: round(bytes / 1e6 / seconds, 1),
        p50ms: Math.round(times[Math.floor(times.length / 2)]!),
        p99ms: Math.round(times.at(-1)!),
        firstByteMs: Math.round(firsts[Math.floor(firsts.length / 2)]!),
        errors: 0,
        peakRssMiB: 0,
        rssGrowthMiB: 0,
        units: times.length,
      };
    };
    const httpClone = await withCpu(ctx.http.pids, () =>
      curlClones(ctx.http.url, 'clone over HTTP, curl (baseline for HTTPS)'),
    );
    const httpsClone = await withCpu(tlsGw.pids, () => curlClones(tlsGw.url, 'clone over HTTPS (native TLS), curl'));
    const nginxClone = await withCpu(nginxSide.pids, () =>
      curlClones(viaNginx, 'clone over HTTPS through nginx, curl'),
    );
    notes.push(
      `HTTPS clone, server CPU per clone: HTTP ${Math.round(httpClone.cpuMsPerUnit)} ms, native TLS ${Math.round(httpsClone.cpuMsPerUnit)} ms, nginx + gateway ${Math.round(nginxClone.cpuMsPerUnit)} ms`,
    );
    rows.push(httpClone);
    rows.push({ ...httpsClone, baseline: 'clone over HTTP', ratio: round(httpsClone.mbPerSec! / httpClone.mbPerSec!) });
    rows.push({
      ...nginxClone,
      baseline: 'clone over native HTTPS',
      ratio: round(nginxClone.mbPerSec! / httpsClone.mbPerSec!),
    });

    // Is curl the bottleneck? The same clone read by this process's fetch, for comparison.
    const started = performance.now();
    const res = await fetch(`${ctx.http.url}${ctx.remote}/fetch`, {
      method: 'POST',
      headers: { ...msgpack, 'content-type': 'application/x-msgpack' },
      body: new Uint8Array(await fs.readFile(body)),
    });
    const fetched = (await res.arrayBuffer()).byteLength;
    notes.push(
      `HTTPS: native TLS ${rows[1]!.ratio} × HTTP on refs (goal ≥ 0.7), ${rows[4]!.ratio} × HTTP on a full clone (goal ≥ 0.7); ` +
        `through nginx ${rows[2]!.ratio} × native HTTPS on refs, ${rows[5]!.ratio} × on a clone (goal ≥ 0.6); ` +
        `clone client check: curl ${httpClone.mbPerSec} MB/s, this process's fetch ${round(fetched / 1e6 / ((performance.now() - started) / 1000), 1)} MB/s over HTTP; nginx: 1 worker process, gateway: 1 worker`,
    );
  } finally {
    await nginx.close();
    await tlsGw.stop();
    await ca.close();
  }
  return { rows, notes };
}

/**
 * `npm run bench:https`: only these rows, on a fresh embedded PostgreSQL and the reference repo,
 * for looking at HTTPS on its own (`npm run bench` includes them).
 */
async function main() {
  const [{ startEmbeddedPostgres }, { openOrm }, { createToken, createUser }, { buildRepo, pushRepo }, { load }] =
    await Promise.all([
      import('../src/db/embedded-postgres.ts'),
      import('../src/database.ts'),
      import('../src/users/index.ts'),
      import('./seed.ts'),
      import('./measure.ts'),
    ]);
  const os = await import('node:os');
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-bench-https-'));
  await fs.chmod(tmp, 0o711);
  const pg = await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  const dataDir = path.join(tmp, 'data-fs');
  const gw = await spawnGateway(pg.url, dataDir, { MUSEHUB_WORKERS: '1' });
  try {
    const orm = await openOrm(pg.url, 2);
    await createUser(orm.em.fork(), 'bench');
    const { token } = await createToken(orm.em.fork(), 'bench');
    await orm.close();
    const created = await fetch(`${gw.url}/api/v1/repos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-filesystem', visibility: 'public' }),
    });
    if (!created.ok) throw new Error(await created.text());
    const repo = buildRepo({ commits: 1000, objects: 5000, branches: 20, filesPerSnapshot: 50 });
    await pushRepo(`${gw.url}/bench/bench-filesystem`, token, repo, 20);
    const { rows, notes } = await httpsRows({
      load,
      http: gw,
      pgUrl: pg.url,
      dataDir,
      tmp,
      remote: '/bench/bench-filesystem',
      head: repo.commits.at(-1)!.commit_id as string,
      clones: Number(process.env.BENCH_CLONES ?? 5),
    });
    console.table(
      rows
        .filter((r) => r.scenario !== 'warm-up')
        .map((r) => ({
          scenario: r.scenario,
          'req/s': r.reqPerSec ?? '',
          'MB/s': r.mbPerSec ?? '',
          'p50 ms': r.p50ms,
          'first byte ms': r.firstByteMs ?? '',
          ratio: r.ratio === undefined ? '' : `${r.ratio} × ${r.baseline}`,
        })),
    );
    for (const n of notes) console.log(n);
  } finally {
    await gw.stop();
    await pg.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
