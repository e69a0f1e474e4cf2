import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

export interface BenchGateway {
  url: string;
  child: ChildProcess;
  env: Record<string, string>;
  /** The primary and every worker (what RSS is summed over). */
  pids(): number[];
  stop(): Promise<void>;
}

/** `musehub serve` in its own process tree, on the given database, with the given settings. */
export async function spawnGateway(databaseUrl: string, dataDir: string, env: Record<string, string>) {
  const port = await freePort();
  const fullEnv: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    MUSEHUB_DATA_DIR: dataDir,
    // The benchmark is the abuse: measure the gateway, not its rate limiter.
    MUSEHUB_RATE_LIMIT_PER_MINUTE: '0',
    MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO: '0',
    ...env,
  };
  // BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the primary and every worker.
  const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bin/musehub.mjs'), 'serve'], {
    env: { ...process.env, ...fullEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `${fullEnv.MUSEHUB_TLS_CERT ? 'https' : 'http'}://127.0.0.1:${port}`;
  await waitHealthy(url, child);
  return {
    url,
    child,
    env: fullEnv,
    pids: () => [child.pid!, ...childPids(child.pid!)],
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  } satisfies BenchGateway;
}

/** A process and its children, for RSS sampling (the baselines are not gateways). */
export const processTree = (child: ChildProcess): Pick<BenchGateway, 'pids'> => ({
  pids: () => [child.pid!, ...childPids(child.pid!)],
});

/** The direct children of a process (pgrep -P). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function waitHealthy(url: string, child: ChildProcess) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('gateway did not become healthy');
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssOf(pid: number): Promise<number> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Samples the RSS of every gateway process every `everyMs` while `work` runs. Returns the
 * largest growth of any one process over its own RSS just before (a clone is served by one
 * process) and the peak total.
 */
export async function sampleRss<T>(gw: Pick<BenchGateway, 'pids'>, work: () => Promise<T>, everyMs = 20) {
  const pids = gw.pids();
  const idle = await Promise.all(pids.map(rssOf));
  const peak = [...idle];
  let running = true;
  const sampler = (async () => {
    while (running) {
      const now = await Promise.all(pids.map(rssOf));
      now.forEach((v, i) => {
        peak[i] = Math.max(peak[i]!, v);
      });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    const result = await work();
    return {
      result,
      idleBytes: idle.reduce((a, b) => a + b, 0),
      peakBytes: peak.reduce((a, b) => a + b, 0),
      maxGrowthBytes: Math.max(...peak.map((p, i) => p - idle[i]!)),
    };
  } finally {
    running = false;
    await sampler;
  }
}
