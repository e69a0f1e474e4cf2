/**
 * `npm run bench`: the reference benchmark. Starts gateways (their own processes) on a fresh
 * embedded PostgreSQL — filesystem object store, PostgreSQL object store, S3 object store (on the
 * tests' Swift s3api server, started here), and a two-worker cluster for refs — seeds realistic repos, drives each scenario from this process, samples
 * every gateway process's RSS while it runs, and compares against baselines measured in the
 * same run: a bare Hono endpoint serving the refs bytes from memory, and a plain file copy.
 * Prints one table; writes bench/results/latest.json.
 *
 * BENCH_DURATION (seconds per load scenario, default 10), BENCH_CONNECTIONS (default 50),
 * BENCH_CLONES (full clones timed per store, default 3).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pgDriver from 'pg';
import { loadConfig } from '../src/config.ts';
import { openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { MCP_POSTS_PER_CALLER } from '../src/mcp/routes.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { startS3TestServer } from '../test/helpers/s3-server.ts';
import { accessTimingRows, seedTargets, strangerSurfaces } from './access-timing.ts';
import { startBaseline } from './baseline.ts';
import { measureCascade } from './cascade.ts';
import { cliStartRows } from './cli-start.ts';
import { type BenchGateway, spawnGateway } from './gateway.ts';
import { gcRows } from './gc.ts';
import { httpsRows } from './https.ts';
import { CONNECTIONS, clones, DURATION, downloads, load, sequential } from './measure.ts';
import { npmStartMemory } from './memory.ts';
import { realClientRows } from './real-client.ts';
import type { Row } from './row.ts';
import { buildRepo, packr, pushRepo } from './seed.ts';
import { startStaticNginx } from './static-nginx.ts';

const CLONES = Number(process.env.BENCH_CLONES ?? 3);
const REFS_ROUNDS = 3;
const root = path.resolve(import.meta.dirname, '..');
const MiB = 1024 * 1024;

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mib = (bytes: number) => round(bytes / MiB);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const msgpack = { accept: 'application/x-msgpack', 'content-type': 'application/x-msgpack' };

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-bench-'));
  await fs.chmod(tmp, 0o711); // the embedded PostgreSQL (user postgres) must reach tmp/db
  const gateways: BenchGateway[] = [];
  const children: ChildProcess[] = [];
  const pg = await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  const s3 = await startS3TestServer('musehub-bench');
  try {
    const settings = { MUSEHUB_WORKERS: '1' };
    const fsGw = await spawnGateway(pg.url, path.join(tmp, 'data-fs'), settings);
    gateways.push(fsGw);
    const pgGw = await spawnGateway(pg.url, path.join(tmp, 'data-pg'), {
      ...settings,
      MUSEHUB_OBJECT_STORE: 'postgres',
    });
    gateways.push(pgGw);
    const s3Gw = await spawnGateway(pg.url, path.join(tmp, 'data-s3'), { ...settings, ...s3.env });
    gateways.push(s3Gw);
    const STORES = [
      ['filesystem', fsGw],
      ['postgres', pgGw],
      ['s3', s3Gw],
    ] as const;
    const config = loadConfig(fsGw.env);

    const orm = await openOrm(pg.url, 2);
    await createUser(orm.em.fork(), 'bench');
    const { token } = await createToken(orm.em.fork(), 'bench');
    await orm.close();
    const auth = { authorization: `Bearer ${token}` };
    const createRepo = async (gw: BenchGateway, name: string) => {
      const res = await fetch(`${gw.url}/api/v1/repos`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name, visibility: 'public' }),
      });
      if (!res.ok) throw new Error(await res.text());
      return `/bench/${name}`;
    };

    // The reference repo (1,000 commits, 5,000 objects of 1–64 KiB, 20 branches) and a 60 MiB
    // one of 1 MiB objects, each pushed through both stores: the seed doubles as a whole-repo
    // push measurement.
    const repo = buildRepo({ commits: 1000, objects: 5000, branches: 20, filesPerSnapshot: 50 });
    const big = buildRepo({ commits: 10, objects: 60, branches: 1, filesPerSnapshot: 60, objectSize: () => MiB });
    const repoBytes = repo.objects.reduce((n, o) => n + o.content.length, 0);
    const seedMs: Record<string, number> = {};
    const remotes: Record<string, string> = {};
    for (const [store, gw] of STORES) {
      remotes[store] = await createRepo(gw, `bench-${store}`);
      remotes[`${store}-big`] = await createRepo(gw, `big-${store}`);
      const t0 = performance.now();
      await pushRepo(`${gw.url}${remotes[store]}`, token, repo, 20);
      seedMs[store] = Math.round(performance.now() - t0);
      // As the muse client pushes them: every object over 64 KiB through presign and a PUT.
      const t1 = performance.now();
      await pushRepo(`${gw.url}${remotes[`${store}-big`]}`, token, big, 1, { presignOver: 64 * 1024 });
      seedMs[`${store}-big`] = Math.round(performance.now() - t1);
    }
    console.log(
      `seeded 1000 commits, 5000 objects (${mib(repoBytes)} MiB), 20 branches: ${STORES.map(([s]) => `${seedMs[s]} ms (${s} store)`).join(', ')}`,
    );
    // A long history of small files: incremental fetch must cost what is new, not what the client has.
    const long = buildRepo({
      commits: 10_000,
      objects: 10_000,
      branches: 1,
      filesPerSnapshot: 20,
      objectSize: () => 512,
    });
    remotes.long = await createRepo(fsGw, 'long-history');
    await pushRepo(`${fsGw.url}${remotes.long}`, token, long, 1);

    // PostgreSQL's own upkeep after the seeding (autovacuum, statistics) done now, not while
    // the first scenarios are measured.
    const upkeep = new pgDriver.Client({ connectionString: pg.url });
    await upkeep.connect();
    await upkeep.query('VACUUM ANALYZE').finally(() => upkeep.end());
    const remote = `${fsGw.url}${remotes.filesystem}`;
    // Incremental fetches (one new commit; the client sends its whole history as `have`), and
    // their answers, which the bare baseline replays after decoding the same request.
    const head = repo.commits.at(-1)!.commit_id as string;
    const longHead = long.commits.at(-1)!.commit_id as string;
    const incremental = [
      {
        name: 'have-999',
        scenario: 'incremental fetch (1 new commit, have = 999 ids)',
        url: `${remote}/fetch`,
        body: Buffer.from(
          packr.pack({ want: [head], have: repo.commits.slice(0, -1).map((c) => c.commit_id as string) }),
        ),
      },
      {
        name: 'have-9999',
        scenario: 'incremental fetch (1 new commit, have = 9,999 ids)',
        url: `${fsGw.url}${remotes.long}/fetch`,
        body: Buffer.from(
          packr.pack({ want: [longHead], have: long.commits.slice(0, -1).map((c) => c.commit_id as string) }),
        ),
      },
    ];
    const answers = path.join(tmp, 'fetch-answers');
    await fs.mkdir(answers);
    for (const inc of incremental) {
      const res = await fetch(inc.url, { method: 'POST', headers: msgpack, body: new Uint8Array(inc.body) });
      if (!res.ok) throw new Error(`${inc.scenario}: HTTP ${res.status}`);
      await fs.writeFile(path.join(answers, inc.name), Buffer.from(await res.arrayBuffer()));
    }
    const refsBytes = Buffer.from(await (await fetch(`${remote}/refs`, { headers: msgpack })).arrayBuffer());
    const baselineOf = async (processes: number) => {
      const baseline = await startBaseline(refsBytes, processes, answers);
      children.push(baseline.child);
      return baseline;
    };
    const { port: baselinePort, tree: baselineTree } = await baselineOf(1);

    const rows: Row[] = [];
    const against = (row: Row, of: Row, label: string): Row => ({
      ...row,
      baseline: label,
      ratio: round(row.reqPerSec! / of.reqPerSec!, 2),
    });
    // Both sides warmed up the same way before they are measured.
    await load(null, 'warm-up', { url: `http://127.0.0.1:${baselinePort}/refs`, duration: 3, headers: msgpack });
    await load(fsGw, 'warm-up', { url: `${remote}/refs`, duration: 3, headers: msgpack });
    // Bare Hono and the gateway in alternating rounds, each row the median round: measured one
    // after the other once, a baseline that happened to run while the machine was busy made a
    // ratio of 1.07 (its own req/s half of the usual).
    const refsRounds: Row[][] = [];
    for (let i = 0; i < REFS_ROUNDS; i++) {
      refsRounds.push([
        await load(baselineTree, 'bare Hono, refs bytes from memory (baseline)', {
          url: `http://127.0.0.1:${baselinePort}/refs`,
          headers: msgpack,
        }),
        await load(fsGw, 'refs (ls-remote), anonymous', { url: `${remote}/refs`, headers: msgpack }),
        await load(fsGw, 'refs (ls-remote), with token', { url: `${remote}/refs`, headers: { ...msgpack, ...auth } }),
      ]);
    }
    const medianRound = (column: number) =>
      [...refsRounds].sort(
        (a, b) => a[column]!.reqPerSec! / a[0]!.reqPerSec! - b[column]!.reqPerSec! / b[0]!.reqPerSec!,
      )[Math.floor(REFS_ROUNDS / 2)]!;
    const bare = medianRound(1)[0]!;
    rows.push(bare);
    for (const column of [1, 2]) {
      const median = medianRound(column);
      rows.push(against(median[column]!, median[0]!, `bare Hono (median of ${REFS_ROUNDS} alternating rounds)`));
    }
    // The same refs against `musehub serve --workers 2` on the same database and objects.
    const cluster = await spawnGateway(pg.url, path.join(tmp, 'data-fs'), { MUSEHUB_WORKERS: '2' });
    gateways.push(cluster);
    const { port: bare2Port, tree: bare2Tree } = await baselineOf(2);
    await load(null, 'warm-up', { url: `http://127.0.0.1:${bare2Port}/refs`, duration: 3, headers: msgpack });
    const bare2 = await load(bare2Tree, 'bare Hono, 2 processes (baseline)', {
      url: `http://127.0.0.1:${bare2Port}/refs`,
      headers: msgpack,
    });
    rows.push(bare2);
    await load(cluster, 'warm-up', { url: `${cluster.url}${remotes.filesystem}/refs`, duration: 3, headers: msgpack });
    rows.push(
      against(
        await load(cluster, 'refs (ls-remote), anonymous, 2 workers', {
          url: `${cluster.url}${remotes.filesystem}/refs`,
          headers: msgpack,
        }),
        bare2,
        'bare Hono, 2 processes',
      ),
    );
    await cluster.stop();

    // HTTPS against HTTP, and nginx against the gateway's own TLS (bench/https.ts).
    const https = await httpsRows({
      load,
      http: fsGw,
      pgUrl: pg.url,
      dataDir: path.join(tmp, 'data-fs'),
      tmp,
      remote: remotes.filesystem!,
      head,
      clones: CLONES,
    });
    rows.push(...https.rows);

    const fileCopy = await fileCopyRate(tmp);
    // The clone's ceilings: reading the same bytes from files as `cat` does — one file per
    // object (the reference repo's 5,000, written out on the same disk: the layout the issue's
    // ceiling names), and the pack files the filesystem store actually holds them in.
    const looseDir = path.join(tmp, 'loose-objects');
    const looseFiles: string[] = [];
    for (const o of repo.objects) {
      const file = path.join(looseDir, o.object_id.slice(0, 2), o.object_id.slice(2));
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, o.content);
      looseFiles.push(file);
    }
    const catRate = await readFilesRate(tmp, looseFiles);
    const packDir = path.join(tmp, 'data-fs', 'objects', 'packs');
    const catPacksRate = await readFilesRate(
      tmp,
      (await fs.readdir(packDir)).filter((n) => n.endsWith('.pack')).map((n) => path.join(packDir, n)),
    );
    const bigHead = big.commits.at(-1)!.commit_id as string;
    for (const [store, gw] of STORES) {
      const clone = await clones(gw, `full clone, reference repo (${store} store)`, remotes[store]!, head, CLONES);
      rows.push({ ...clone, baseline: 'cat of the object files', ratio: round(clone.mbPerSec! / catRate, 3) });
      const bigClone = await clones(
        gw,
        `full clone, 60 MiB of 1 MiB objects (${store} store)`,
        remotes[`${store}-big`]!,
        bigHead,
        Math.max(1, CLONES),
      );
      rows.push({ ...bigClone, baseline: 'file copy', ratio: round(bigClone.mbPerSec! / fileCopy, 3) });
    }
    // The HTTP ceilings, read by the same client (curl): bare Hono answering responses of the
    // same sizes from memory (where Node stands), and nginx sending them as static files with
    // sendfile (the best any HTTP server does on this machine's loopback).
    const staticDir = path.join(tmp, 'static');
    await fs.mkdir(staticDir, { recursive: true });
    await fs.chmod(staticDir, 0o755);
    const nginx = await startStaticNginx(staticDir);
    try {
      for (const scenario of [
        'full clone, reference repo (filesystem store)',
        'full clone, 60 MiB of 1 MiB objects (filesystem store)',
      ]) {
        const clone = rows.find((r) => r.scenario === scenario)!;
        const size = clone.responseBytes!;
        const bare = await downloads(
          baselineTree,
          `bare Hono, ${mib(size)} MiB from memory (baseline)`,
          { url: `http://127.0.0.1:${baselinePort}/blob/${size}` },
          Math.max(3, CLONES),
        );
        rows.push(bare);
        clone.vsBareHttp = round(clone.mbPerSec! / bare.mbPerSec!, 3);
        await fs.writeFile(path.join(staticDir, `blob-${size}`), randomBytes(size));
        const fromNginx = await downloads(
          nginx.tree,
          `nginx, ${mib(size)} MiB static file (ceiling)`,
          { url: `${nginx.url}/blob-${size}` },
          Math.max(3, CLONES),
        );
        rows.push({
          ...fromNginx,
          baseline: 'bare Hono, same bytes',
          ratio: round(fromNginx.mbPerSec! / bare.mbPerSec!, 2),
        });
        clone.vsNginx = round(clone.mbPerSec! / fromNginx.mbPerSec!, 3);
      }
    } finally {
      await nginx.stop();
    }
    const refClone = rows.find((r) => r.scenario === 'full clone, reference repo (filesystem store)')!;

    for (const inc of incremental) {
      // One connection: the latency one `muse fetch` sees, compared with one clone's (a p50 under
      // ten concurrent connections on two cores would mostly measure the queue) and with bare
      // Hono decoding the same request and answering the same bytes: a 9,999-id `have` is 660 KB
      // to send, receive and decode before any server does any work.
      // Requests one after another, timed to a tenth of a millisecond (a load tool's whole-ms
      // p50 cannot tell 5 ms from 5.9).
      const post = (url: string) => () =>
        fetch(url, { method: 'POST', headers: msgpack, body: new Uint8Array(inc.body) }).then(async (res) => {
          if (!res.ok) throw new Error(`${inc.scenario}: HTTP ${res.status}`);
          await res.arrayBuffer();
        });
      const floor = await sequential(
        baselineTree,
        `bare Hono, same request and answer, ${inc.name} (baseline)`,
        post(`http://127.0.0.1:${baselinePort}/fetch/${inc.name}`),
      );
      rows.push(floor);
      const row = await sequential(fsGw, inc.scenario, post(inc.url));
      // The goal: a small fraction of a full clone's time, measured in this run.
      rows.push({
        ...row,
        baseline: 'full clone p50',
        ratio: round(row.p50ms / refClone.p50ms, 3),
        floorP50ms: floor.p50ms,
      });
    }
    const filterBody = Buffer.from(packr.pack({ object_ids: repo.objects.map((o) => o.object_id) }));
    rows.push(
      await load(fsGw, 'filter-objects (5,000 ids)', {
        url: `${remote}/filter-objects`,
        method: 'POST',
        headers: { ...msgpack, ...auth },
        body: filterBody,
        connections: 10,
      }),
    );
    // MCP: one tools/call against the REST request that answers the same question, same gateway.
    const rest = await load(fsGw, 'REST GET repo by owner/slug (baseline for MCP)', {
      url: `${fsGw.url}/api/v1/users/bench/repos/bench-filesystem`,
      headers: auth,
      connections: 10,
    });
    rows.push(rest);
    const mcpHeaders = {
      ...auth,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    };
    const opened = await fetch(`${fsGw.url}/mcp`, {
      method: 'POST',
      headers: mcpHeaders,
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
      }),
    });
    await opened.text();
    const session = opened.headers.get('mcp-session-id');
    if (!opened.ok || !session) throw new Error(`MCP initialize: HTTP ${opened.status}`);
    // Each request its own JSON-RPC id: a session routes answers by id.
    let rpcId = 1;
    const mcp = await load(fsGw, 'MCP tools/call musehub_get_context', {
      url: `${fsGw.url}/mcp`,
      method: 'POST',
      headers: { ...mcpHeaders, 'mcp-session-id': session },
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: rpcId++,
              method: 'tools/call',
              params: { name: 'musehub_get_context', arguments: { owner: 'bench', slug: 'bench-filesystem' } },
            }),
          }),
        },
      ],
      // One caller: the product lets it have MCP_POSTS_PER_CALLER requests in flight (429 beyond).
      connections: MCP_POSTS_PER_CALLER,
    });
    rows.push({ ...mcp, baseline: 'REST GET repo', ratio: round(mcp.reqPerSec! / rest.reqPerSec!, 3) });
    // The repo's web page (head snapshot's top folder, latest commits), as a browser opens it.
    const home = `${fsGw.url}/bench/bench-filesystem`;
    const shown = await fetch(home, { headers: { accept: 'text/html' } });
    if (shown.status !== 200) throw new Error(`repo page: HTTP ${shown.status}`);
    await shown.text();
    const pageRow = await load(fsGw, 'repo home page (HTML), anonymous', {
      url: home,
      headers: { accept: 'text/html' },
      connections: 10,
    });
    rows.push({ ...pageRow, baseline: 'REST GET repo', ratio: round(pageRow.reqPerSec! / rest.reqPerSec!, 3) });
    // Whether the time of a 404 tells a stranger a private repo exists (bench/access-timing.ts).
    const timingTargets = await seedTargets(fsGw, pg.url);
    const timing = await accessTimingRows(
      fsGw,
      timingTargets.targets,
      strangerSurfaces(timingTargets.carol, timingTargets.carolSession),
    );
    rows.push(...timing.rows);
    // The musehub command's own start, against `node -e 0` (bench/cli-start.ts).
    rows.push(...cliStartRows(fsGw.url));
    for (const [store, gw] of STORES) {
      rows.push(
        await load(gw, `push/objects, 100 new 4 KiB objects (${store} store)`, {
          url: `${gw.url}${remotes[store]}/push/objects`,
          method: 'POST',
          headers: { ...msgpack, ...auth },
          connections: 4,
          requests: [{ setupRequest: (req) => ({ ...req, body: freshObjectsBody() }) }],
        }),
      );
    }

    // Whole-repo pushes (timed while seeding) as rows, so every store's figures sit side by side.
    for (const [store] of STORES) {
      for (const [key, what] of [
        [store, 'reference repo, inline'],
        [`${store}-big`, '60 MiB of 1 MiB objects, presigned'],
      ] as const) {
        const ms = seedMs[key]!;
        const bytes = key === store ? repoBytes : 60 * MiB;
        rows.push({
          scenario: `whole-repo push, ${what} (${store} store)`,
          mbPerSec: round(bytes / 1e6 / (ms / 1000)),
          p50ms: ms,
          p99ms: ms,
          errors: 0,
          peakRssMiB: 0,
          rssGrowthMiB: 0,
        });
      }
    }
    // Every row measured on each store: its throughput over the filesystem store's, same run.
    for (const r of rows) {
      const m = / \((postgres|s3) store\)$/.exec(r.scenario);
      if (!m) continue;
      const fsRow = rows.find((x) => x.scenario === r.scenario.replace(m[0], ' (filesystem store)'));
      const rate = (x: Row) => x.mbPerSec || x.reqPerSec || 0;
      if (fsRow && rate(fsRow)) r.vsFilesystem = round(rate(r) / rate(fsRow), 3);
    }

    for (const note of https.notes) console.log(note);
    for (const note of timing.notes) console.log(`404 timing: ${note}`);
    const cascadeOrm = await openOrm(pg.url, 4);
    const cascade = await measureCascade(cascadeOrm).finally(() => cascadeOrm.close());
    const gc = await gcRows({
      adminUrl: pg.url,
      tmp,
      clonesPerRow: CLONES,
      loadSeconds: DURATION,
      connections: CONNECTIONS,
    });
    rows.push(...gc.rows);
    const realClient = await realClientRows({
      gatewayUrl: fsGw.url,
      owner: 'bench',
      token,
      createRepo: async (name) => (await createRepo(fsGw, name)).split('/').at(-1)!,
    });
    rows.push(...realClient.rows);
    // What the default `npm start` holds, idle: its own process tree on its own embedded database.
    const memory = await npmStartMemory();
    rows.push({
      scenario: 'npm start, idle (primary + workers, embedded PostgreSQL excluded)',
      p50ms: 0,
      p99ms: 0,
      errors: 0,
      peakRssMiB: memory.gatewayMiB,
      rssGrowthMiB: 0,
    });

    const first = JSON.parse(await fs.readFile(path.join(root, 'bench/results/first.json'), 'utf8')) as {
      figures: Record<string, number>;
      baselines: Record<string, number>;
    };
    // "vs first run" compares same-run ratios where both runs measured the baseline: refs
    // against bare Hono, clones against a file copy. Other rows have no baseline in the first
    // run and compare raw figures (marked "raw"; this machine's figures move by 2x).
    const nowBaselines: Record<string, number> = { 'bare Hono': bare.reqPerSec!, 'file copy': fileCopy };
    const firstBaselineOf = (scenario: string) =>
      scenario.startsWith('refs') ? 'bare Hono' : scenario.startsWith('full clone') ? 'file copy' : null;
    const vsFirst = (r: Row) => {
      const now = r.reqPerSec ?? r.mbPerSec;
      const before = first.figures[r.scenario];
      if (!now || !before) return '';
      const label = firstBaselineOf(r.scenario);
      if (!label) return `${round(now / before, 2)}× (raw)`;
      return `${round(now / nowBaselines[label]! / (before / first.baselines[label]!), 2)}×`;
    };
    const table = rows
      .filter((r) => r.scenario !== 'warm-up')
      .map((r) => ({
        scenario: r.scenario,
        'req/s': r.reqPerSec ?? '',
        'MB/s': r.mbPerSec ?? '',
        'p50 ms': r.p50ms,
        'p99 ms': r.p99ms,
        'first byte ms': r.firstByteMs ?? '',
        'peak RSS MiB': r.peakRssMiB || '',
        'RSS +MiB': r.peakRssMiB ? r.rssGrowthMiB : '',
        ratio:
          (r.ratio === undefined ? '' : `${r.ratio} × ${r.baseline}`) +
          (r.vsBareHttp === undefined ? '' : `; ${r.vsBareHttp} × bare Hono`) +
          (r.vsNginx === undefined ? '' : `; ${r.vsNginx} × nginx`),
        'vs filesystem store': r.vsFilesystem ?? '',
        'vs first run': vsFirst(r),
      }));
    console.table(table);
    console.log(
      `baselines: bare Hono ${bare.reqPerSec} req/s (1 process), ${bare2.reqPerSec} req/s (2 processes); ` +
        `cat of the reference repo's objects as one file each ${Math.round(catRate)} MB/s, of the store's pack files ${Math.round(catPacksRate)} MB/s; file copy ${Math.round(fileCopy)} MB/s (same disk as the filesystem store)`,
    );
    console.log(
      `settings: 1 worker per gateway unless stated, pool ${config.dbPoolMax} connections, statement timeout ${config.dbStatementTimeoutMs} ms, ` +
        `log level warn; rate limits and the per-repo push cap are OFF (MUSEHUB_RATE_LIMIT_PER_MINUTE=0, MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO=0); ` +
        `every scenario aborts the run on any error or non-2xx answer; Node ${process.version}`,
    );
    for (const r of rows.filter((x) => x.scenario.startsWith('full clone'))) {
      const largest = r.scenario.includes('1 MiB objects') ? 1 : 64 / 1024;
      const bound = 64 + largest;
      console.log(
        `memory: ${r.scenario}: gateway RSS grew ${r.rssGrowthMiB} MiB over idle (peak ${r.peakRssMiB} MiB), ${r.rssGrowthMiB <= bound ? 'within' : 'OVER'} the ${round(bound, 2)} MiB bound (64 MiB + largest object)`,
      );
    }
    const [inc1k, inc10k] = rows.filter((r) => r.scenario.startsWith('incremental fetch'));
    const bigFsClone = rows.find((r) => r.scenario === 'full clone, 60 MiB of 1 MiB objects (filesystem store)')!;
    console.log(
      `goals: full clone ${refClone.ratio} × cat of one file per object (goal ≥ 0.4; ${round(refClone.mbPerSec! / catPacksRate, 3)} × cat of the pack files, ${refClone.vsBareHttp} × bare Hono sending as many bytes (goal ≥ 0.3), ${refClone.vsNginx} × nginx sending them as a file), first byte ${round(refClone.firstByteMs! / refClone.p50ms, 3)} of the clone's time (goal ≤ 0.1); ` +
        `60 MiB clone ${bigFsClone.ratio} × file copy (goal ≥ 0.5; ${bigFsClone.vsBareHttp} × bare Hono sending as many bytes, ${bigFsClone.vsNginx} × nginx); ` +
        `incremental p50 have=9,999 / have=999 ${round(inc10k!.p50ms / Math.max(1, inc1k!.p50ms), 2)} (goal < 1.5; bare Hono's own ${round(inc10k!.floorP50ms! / Math.max(1, inc1k!.floorP50ms!), 2)}; ` +
        `the gateway's time above bare Hono ${round(inc1k!.p50ms - inc1k!.floorP50ms!)} and ${round(inc10k!.p50ms - inc10k!.floorP50ms!)} ms), ${inc1k!.ratio} and ${inc10k!.ratio} × full clone (goal ≤ 0.02); ` +
        `refs ${rows.find((r) => r.scenario === 'refs (ls-remote), anonymous')!.ratio} × bare Hono (goal ≥ 0.8), ` +
        `with a token ${rows.find((r) => r.scenario === 'refs (ls-remote), with token')!.ratio} (goal ≥ 0.7)`,
    );
    console.log(
      `cascade delete of 10,000 issues + 100,000 comments (median of 3, alternating order): ${cascade.softDeleteMs} ms (${cascade.rowsPerSec} rows/s, repo row locked ${cascade.lockedMs} ms); ` +
        `hand-written UPDATEs of the same rows and columns: ${cascade.handSqlMs} ms (${cascade.handSqlRowsPerSec} rows/s); ratio ${cascade.ratio}`,
    );
    console.log(
      `whole-repo push of the reference repo: ${STORES.map(([s]) => `${seedMs[s]} ms (${s} store)`).join(', ')}; first recorded: ${first.figures['whole-repo push (filesystem store) ms'] ?? '?'} ms; ` +
        `S3 server: OpenStack Swift s3api on loopback (test/helpers/s3-server.ts), one worker per server`,
    );
    for (const note of [...gc.notes, ...realClient.notes]) console.log(note);
    console.log(
      `npm start idle RSS: ${memory.gatewayMiB} MiB — ${memory.processes
        .filter((p) => p.role !== 'postgres')
        .map((p) => `${p.role} ${p.rssMiB}`)
        .join(', ')} MiB (embedded PostgreSQL ${memory.databaseMiB} MiB, not counted)`,
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
      settings: {
        workers: 1,
        dbPoolMax: config.dbPoolMax,
        dbStatementTimeoutMs: config.dbStatementTimeoutMs,
        logLevel: 'warn',
      },
      seed: { commits: 1000, objects: 5000, branches: 20, totalMiB: mib(repoBytes), pushMs: seedMs },
      fileCopyMBps: Math.round(fileCopy),
      catMBps: Math.round(catRate),
      catPacksMBps: Math.round(catPacksRate),
      cascade,
      rows,
    };
    await fs.mkdir(path.join(root, 'bench/results'), { recursive: true });
    await fs.writeFile(path.join(root, 'bench/results/latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    for (const gw of gateways) await gw.stop();
    await pg.stop();
    await s3.close();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Waits for `count` matches of a global pattern on the child's stdout; answers the first. */
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
  await fs.writeFile(src, randomBytes(64 * MiB));
  const started = performance.now();
  for (let i = 0; i < 3; i++) await fs.copyFile(src, path.join(dir, `copy-${i}`));
  const seconds = (performance.now() - started) / 1000;
  return (3 * 64 * 1.048576) / seconds;
}

/**
 * MB/s of reading the given files one after another with `cat` (best of three, warm page cache):
 * the ceiling for sending the same bytes in a clone.
 */
async function readFilesRate(dir: string, files: readonly string[]): Promise<number> {
  const list = path.join(dir, 'cat-list');
  await fs.writeFile(list, files.join('\0'));
  let bytes = 0;
  for (const f of files) bytes += (await fs.stat(f)).size;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn('sh', ['-c', `xargs -0 cat < '${list}' > /dev/null`], { stdio: 'inherit' });
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`cat exited ${code}`))));
    });
    best = Math.min(best, performance.now() - started);
  }
  return bytes / 1e6 / (best / 1000);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
