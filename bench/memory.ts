/**
 * `npm run bench:memory`: what the default `npm start` holds in memory — the process tree
 * `musehub serve` starts (primary, workers, their helpers) on its embedded PostgreSQL, once
 * every worker answers and after a few seconds idle: RSS per process, the embedded database's
 * processes listed apart and left out of the total.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { childPids, freePort, rssOf } from './gateway.ts';

const root = path.resolve(import.meta.dirname, '..');
const MiB = 1024 * 1024;
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 5);

export interface TreeMemory {
  processes: { pid: number; role: string; rssMiB: number }[];
  /** Every process but the embedded database's. */
  gatewayMiB: number;
  databaseMiB: number;
}

/** `musehub serve` as `npm start` runs it (embedded database, default workers), measured idle. */
export async function npmStartMemory(env: Record<string, string> = {}): Promise<TreeMemory> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-bench-memory-'));
  await fs.chmod(tmp, 0o711);
  const port = await freePort();
  const { DATABASE_URL: _, ...inherited } = process.env;
  const child = spawn(process.execPath, [path.join(root, 'bin/musehub.mjs'), 'serve'], {
    env: { ...inherited, PORT: String(port), MUSEHUB_DATA_DIR: tmp, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`musehub serve exited ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('musehub serve did not answer /health within 120 s');
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Every worker up: a second of /health answers from whichever takes them, then idle.
    for (let i = 0; i < 20; i++) await (await fetch(`http://127.0.0.1:${port}/health`)).arrayBuffer();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const processes: TreeMemory['processes'] = [];
    for (const pid of descendants(child.pid!)) {
      processes.push({ pid, role: roleOf(pid, child.pid!), rssMiB: Math.round((await rssOf(pid)) / MiB) });
    }
    const sum = (f: (role: string) => boolean) => processes.filter((p) => f(p.role)).reduce((a, p) => a + p.rssMiB, 0);
    return {
      processes,
      gatewayMiB: sum((r) => !r.startsWith('postgres')),
      databaseMiB: sum((r) => r.startsWith('postgres')),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

function descendants(pid: number): number[] {
  return [pid, ...childPids(pid).flatMap(descendants)];
}

function roleOf(pid: number, primary: number): string {
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const exe = path.basename(cmd[0] ?? '');
  if (pid === primary) return 'primary';
  if (exe === 'postgres' || cmd[0]?.startsWith('postgres')) return 'postgres';
  if (exe === 'esbuild') return 'esbuild (tsx)';
  if (cmd.some((a) => a.endsWith('musehub.mjs'))) return 'worker';
  return exe;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const m = await npmStartMemory();
  console.table(m.processes.map((p) => ({ role: p.role, pid: p.pid, 'RSS MiB': p.rssMiB })));
  console.log(
    `npm start, idle: ${m.gatewayMiB} MiB RSS (all processes but the embedded database's ${m.databaseMiB} MiB)`,
  );
}
