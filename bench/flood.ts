/**
 * `npm run bench:flood`: does a flood on one surface slow the wire protocol for everyone else?
 * Issue 23 (item 5) found 20 anonymous clients sending batches of 100 MCP tool calls took other
 * users' refs from ~30 ms to 2.7–5.3 s. Goal: refs p99 for a user who is not flooding within 3×
 * of the same run's quiet p99.
 *
 * Each phase times refs for alice (her token, her repo), one request every 10 ms on one
 * keep-alive socket, for PHASE_MS: first quiet, then while 20 anonymous clients flood. A flooder
 * is a closed loop (its next request leaves when the last answer arrived) that ignores
 * Retry-After but waits 100 ms after a refusal — a careless client, not a busy loop that would
 * measure this machine's two cores rather than the gateway. Run against the defaults of
 * `npm start` (2 workers, the per-caller budget and the MCP concurrency cap on), then with the
 * per-caller budget off, where only the concurrency cap stands between the flood and the pool.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { createToken, createUser } from '../src/users/index.ts';
import { type BenchGateway, spawnGateway } from './gateway.ts';
import type { Row } from './row.ts';

const PHASE_MS = Number(process.env.BENCH_FLOOD_MS ?? 15_000);
const FLOODERS = 20;
const BATCH = 100;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)]!;

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function timedGet(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http
      .get(url, { agent, headers }, (res) => {
        res.on('data', () => {});
        res.on('end', () =>
          res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`refs: ${res.statusCode}`)),
        );
      })
      .on('error', reject);
  });
}

/** User + system CPU seconds the processes have used (Linux /proc; clock ticks of 1/100 s). */
async function cpuSeconds(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / 100;
}

/** Alice's refs, one request every 10 ms until `until`; the latencies. */
async function timeRefs(gw: BenchGateway, repo: string, token: string, ms: number): Promise<number[]> {
  const times: number[] = [];
  const headers = { authorization: `Bearer ${token}`, accept: 'application/x-msgpack' };
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const started = performance.now();
    times.push(await timedGet(`${gw.url}/${repo}/refs`, headers));
    await sleep(Math.max(0, 10 - (performance.now() - started)));
  }
  return times;
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** An anonymous MCP client: a session, then batches of tool calls until `stop()`. */
async function flooder(
  base: string,
  owner: string,
  slug: string,
  stats: FloodStats,
  stopped: () => boolean,
  ready: () => void,
  go: Promise<void>,
) {
  const initialize = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'flood', version: '1' } },
  });
  let init: Response;
  for (;;) {
    init = await fetch(`${base}/mcp`, { method: 'POST', headers: MCP_HEADERS, body: initialize });
    await init.text();
    if (init.status !== 429) break;
    await sleep(100);
  }
  const session = init.headers.get('mcp-session-id');
  if (!session) throw new Error(`flood: initialize answered ${init.status}`);
  const headers = { ...MCP_HEADERS, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
  for (;;) {
    const res = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    await res.text();
    if (res.status !== 429) break;
    await sleep(100);
  }
  ready();
  await go;
  const batch = JSON.stringify(
    Array.from({ length: BATCH }, (_, i) => ({
      jsonrpc: '2.0',
      id: i + 1,
      method: 'tools/call',
      params: { name: 'musehub_get_context', arguments: { owner, slug } },
    })),
  );
  while (!stopped()) {
    const res = await fetch(`${base}/mcp`, { method: 'POST', headers, body: batch });
    await res.text();
    if (res.ok) stats.served += BATCH;
    else {
      stats.refused += 1;
      await sleep(100);
    }
  }
}

interface FloodStats {
  served: number;
  refused: number;
}

/** Quiet refs, then refs under the MCP flood: two rows. */
async function floodRows(gw: BenchGateway, label: string, seeded: Seeded) {
  const token = seeded.alice;
  const remote = `${seeded.aliceRepo.owner}/${seeded.aliceRepo.slug}`;
  const { owner, slug } = seeded.target;
  // Warm: every worker has served MCP before (its first calls load and compile code a flood on
  // a running hub would not pay for). Alice's budget, not the flooders' address's.
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, connection: 'close' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'musehub_get_context', arguments: { owner, slug } },
      }),
    });
    await res.text();
  }
  await timeRefs(gw, remote, token, 2_000);
  const quiet = await timeRefs(gw, remote, token, PHASE_MS);
  // The flood runs in a process of its own, so that its 20 clients do not slow the event loop
  // of the client being timed.
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, 'flood', gw.url, owner, slug], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const lines = async (n: number) => {
    const deadline = Date.now() + 60_000;
    while (out.split('\n').length <= n) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`flood process: ${out}`);
      await sleep(50);
    }
  };
  // Timed from the flood's first batch: its burst (a fresh budget spent at once) is part of it.
  await lines(1); // "started": every flooder has its session
  const t0 = performance.now();
  child.stdin.write('mark\n');
  const cpu0 = { gateway: await cpuSeconds(gw.pids()), flood: await cpuSeconds([child.pid!]) };
  const loud = await timeRefs(gw, remote, token, PHASE_MS);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = {
    gateway: (await cpuSeconds(gw.pids())) - cpu0.gateway,
    flood: (await cpuSeconds([child.pid!])) - cpu0.flood,
  };
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
  const stats = JSON.parse(out.trim().split('\n').at(-1)!) as FloodStats;
  const served = stats.served;
  const quietP99 = quantile(quiet, 0.99);
  const rows: Row[] = [
    {
      scenario: `refs for another user, quiet (${label})`,
      p50ms: round(quantile(quiet, 0.5)),
      p99ms: round(quietP99),
      errors: 0,
      peakRssMiB: 0,
      rssGrowthMiB: 0,
    },
    {
      scenario: `refs for another user, ${FLOODERS} anonymous MCP clients flooding (${label})`,
      p50ms: round(quantile(loud, 0.5)),
      p99ms: round(quantile(loud, 0.99)),
      errors: 0,
      peakRssMiB: 0,
      rssGrowthMiB: 0,
      baseline: 'p99, quiet, same run (goal ≤ 3)',
      ratio: round(quantile(loud, 0.99) / quietP99),
    },
  ];
  const busy = (s: number) => `${Math.round((s / seconds) * 100)} %`;
  const note = `${label}: CPU during the flood: gateway processes ${busy(cpu.gateway)}, flooding client ${busy(cpu.flood)} (of 200 %); flood served ${Math.round(served / seconds)} tool calls/s, ${stats.refused} batches refused; refs samples quiet ${quiet.length}, flooded ${loud.length}`;
  return { rows, note };
}

type Seeded = Awaited<ReturnType<typeof seed>>;

async function seed(gw: BenchGateway, databaseUrl: string) {
  const orm = await openOrm(databaseUrl, 2);
  try {
    await createUser(orm.em.fork(), 'alice');
    await createUser(orm.em.fork(), 'bob');
    const alice = (await createToken(orm.em.fork(), 'alice')).token;
    const bob = (await createToken(orm.em.fork(), 'bob')).token;
    const create = async (token: string, name: string) => {
      const res = await fetch(`${gw.url}/api/v1/repos`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, visibility: 'public' }),
      });
      if (!res.ok) throw new Error(await res.text());
      return (await res.json()) as { owner: string; slug: string };
    };
    // The flood reads bob's repo; alice reads her own.
    return { alice, aliceRepo: await create(alice, 'quiet-work'), target: await create(bob, 'popular') };
  } finally {
    await orm.close();
  }
}

export async function mcpFloodRows(databaseUrl: string, dataDir: string) {
  const rows: Row[] = [];
  const notes: string[] = [];
  let seeded: Seeded | undefined;
  for (const [label, env] of [
    ['defaults', {}],
    ['per-caller budget off', { MUSEHUB_RATE_LIMIT_PER_MINUTE: '0' }],
  ] as const) {
    // The defaults of `npm start`, not the bench's usual "limits off".
    const gw = await spawnGateway(databaseUrl, path.join(dataDir, label.replace(/\W+/g, '-')), {
      MUSEHUB_RATE_LIMIT_PER_MINUTE: '600',
      MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO: '8',
      ...env,
    });
    try {
      seeded ??= await seed(gw, databaseUrl);
      const r = await floodRows(gw, label, seeded);
      rows.push(...r.rows);
      notes.push(r.note);
    } finally {
      await gw.stop();
    }
  }
  return { rows, notes };
}

async function main() {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-flood-'));
  await fs.chmod(tmp, 0o711);
  const pg = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dir: path.join(tmp, 'db') });
  try {
    const { rows, notes } = await mcpFloodRows(process.env.DATABASE_URL ?? pg!.url, path.join(tmp, 'data'));
    console.log('| scenario | p50 ms | p99 ms | × quiet p99 |');
    console.log('| --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.scenario} | ${r.p50ms} | ${r.p99ms} | ${r.ratio ?? ''} |`);
    for (const n of notes) console.log(n);
  } finally {
    await pg?.stop();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** The flood process: prints "started" once every flooder has a session, counts from "mark" on stdin, stops at its end. */
async function floodProcess(base: string, owner: string, slug: string) {
  const stats: FloodStats = { served: 0, refused: 0 };
  let stop = false;
  let go!: () => void;
  const going = new Promise<void>((r) => (go = r));
  const started: Promise<void>[] = [];
  const flood = Array.from({ length: FLOODERS }, () => {
    let ready!: () => void;
    started.push(new Promise<void>((r) => (ready = r)));
    return flooder(base, owner, slug, stats, () => stop, ready, going);
  });
  await Promise.all(started);
  go();
  process.stdout.write('started\n');
  process.stdin.on('data', () => {
    stats.served = 0;
    stats.refused = 0;
  });
  process.stdin.on('end', () => {
    stop = true;
  });
  await Promise.all(flood);
  process.stdout.write(`${JSON.stringify(stats)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === 'flood') {
  const [base, owner, slug] = process.argv.slice(3) as [string, string, string];
  floodProcess(base, owner, slug).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
