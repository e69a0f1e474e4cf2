/**
 * How the bench measures: fixed-duration load runs (autocannon), requests one at a time, and whole
 * downloads read by one client whatever serves them — each with the server's peak RSS meanwhile.
 * BENCH_DURATION (seconds per load scenario, default 10), BENCH_CONNECTIONS (default 50).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { type BenchGateway, sampleRss } from './gateway.ts';
import type { Row } from './row.ts';
import { packr } from './seed.ts';

export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const MiB = 1024 * 1024;
const execFileP = promisify(execFile);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const mib = (bytes: number) => round(bytes / MiB);
const msgpack = { accept: 'application/x-msgpack', 'content-type': 'application/x-msgpack' };

/** An autocannon run against one gateway, with that gateway's peak RSS while it ran. */
export async function load(
  gw: Pick<BenchGateway, 'pids'> | null,
  scenario: string,
  opts: autocannon.Options,
): Promise<Row> {
  const run = () => autocannon({ duration: DURATION, connections: CONNECTIONS, ...opts });
  const { result, peakBytes, maxGrowthBytes } = gw
    ? await sampleRss(gw, run)
    : { result: await run(), peakBytes: 0, maxGrowthBytes: 0 };
  // A figure that includes refused or failed requests measures the wrong thing: stop the run.
  if (result.errors || result.non2xx) {
    throw new Error(`${scenario}: ${result.errors} errors and ${result.non2xx} non-2xx answers; the run is void`);
  }
  return {
    scenario,
    reqPerSec: result.requests.average < 100 ? round(result.requests.average) : Math.round(result.requests.average),
    mbPerSec: round(result.throughput.average / MiB),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    errors: result.errors + result.non2xx,
    peakRssMiB: mib(peakBytes),
    rssGrowthMiB: mib(maxGrowthBytes),
  };
}

/** Full clones one after another (a clone is seconds long, too long for a fixed-duration load run). */
export async function clones(
  gw: BenchGateway,
  scenario: string,
  remote: string,
  want: string,
  n: number,
): Promise<Row> {
  const body = new Uint8Array(packr.pack({ want: [want], have: [] }));
  return downloads(gw, scenario, { url: `${gw.url}${remote}/fetch`, headers: msgpack, body }, n);
}

/** Latency of one request at a time: 50 warm-up requests, then `n` timed ones. */
export async function sequential(
  server: Pick<BenchGateway, 'pids'>,
  scenario: string,
  request: () => Promise<unknown>,
  n = 300,
): Promise<Row> {
  for (let i = 0; i < 50; i++) await request();
  const { result, peakBytes, maxGrowthBytes } = await sampleRss(server, async () => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await request();
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b);
  });
  return {
    scenario,
    reqPerSec: round(n / (result.reduce((a, b) => a + b, 0) / 1000)),
    p50ms: round(result[Math.floor(n / 2)]!),
    p99ms: round(result[Math.floor(n * 0.99)]!),
    errors: 0,
    peakRssMiB: mib(peakBytes),
    rssGrowthMiB: mib(maxGrowthBytes),
  };
}

/** One HTTP request whose whole answer a download reads. */
export interface Download {
  url: string;
  /** POSTed when present. */
  body?: Uint8Array;
  headers?: Record<string, string>;
}

/**
 * `n` whole responses one after another, each read by curl into /dev/null and timed by curl
 * itself (`time_total`, `time_starttransfer`: its process start is not counted). curl is the
 * fast client: bare Hono's 52 MB answer takes it 15 ms here, against 58 ms read through fetch
 * and 47 ms through node:http — a Node client would put its own ceiling on every row.
 */
export async function downloads(
  server: Pick<BenchGateway, 'pids'>,
  scenario: string,
  request: Download,
  n: number,
): Promise<Row> {
  const args = ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_starttransfer} %{time_total}'];
  // No "Expect: 100-continue" round trip before a body.
  args.push('-H', 'Expect:');
  for (const [k, v] of Object.entries(request.headers ?? {})) args.push('-H', `${k}: ${v}`);
  let bodyFile: string | undefined;
  if (request.body) {
    bodyFile = path.join(os.tmpdir(), `musehub-bench-body-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.writeFile(bodyFile, request.body);
    args.push('--data-binary', `@${bodyFile}`);
  }
  args.push(request.url);
  try {
    const { result, peakBytes, maxGrowthBytes } = await sampleRss(server, async () => {
      const times: number[] = [];
      const firsts: number[] = [];
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const { stdout } = await execFileP('curl', args, { encoding: 'utf8' });
        const [status, size, first, total] = stdout.trim().split(' ').map(Number) as [number, number, number, number];
        if (status < 200 || status > 299) throw new Error(`${scenario}: HTTP ${status}`);
        bytes += size;
        times.push(total * 1000);
        firsts.push(first * 1000);
      }
      return { times: times.sort((a, b) => a - b), firsts: firsts.sort((a, b) => a - b), bytes };
    });
    const seconds = result.times.reduce((a, b) => a + b, 0) / 1000;
    return {
      scenario,
      mbPerSec: round(result.bytes / 1e6 / seconds),
      p50ms: round(result.times[Math.floor(n / 2)]!),
      p99ms: round(result.times.at(-1)!),
      firstByteMs: round(result.firsts[Math.floor(n / 2)]!),
      responseBytes: Math.round(result.bytes / n),
      errors: 0,
      peakRssMiB: mib(peakBytes),
      rssGrowthMiB: mib(maxGrowthBytes),
    };
  } finally {
    if (bodyFile) await fs.rm(bodyFile, { force: true });
  }
}
