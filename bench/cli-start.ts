/**
 * `npm run bench:cli`: how long the `musehub` command takes to answer, as a person runs it —
 * `--version`, `--help`, and `repo read` over HTTP against a running gateway — next to
 * `node -e 0` on the same Node in the same run (the floor any Node command pays). Medians of
 * alternating runs. `npm run bench` has the same rows.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Row } from './row.ts';

const root = path.resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 15);

function timeOnce(args: string[], env: Record<string, string>, expectCode: number): number {
  const t0 = performance.now();
  const res = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (res.status !== expectCode) throw new Error(`${args.join(' ')}: exit ${res.status}: ${res.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Rows for the command's start: each against `node -e 0`, measured in alternation with it. */
export function cliStartRows(gatewayUrl: string): Row[] {
  const bin = path.join(root, 'bin/musehub.mjs');
  const env = { MUSEHUB_URL: gatewayUrl, LOG_LEVEL: 'silent' };
  const cases: [string, string[], number][] = [
    ['node -e 0 (the floor)', ['-e', '0'], 0],
    ['musehub --version', [bin, '--version'], 0],
    ['musehub --help', [bin, '--help'], 0],
    // A repo that does not exist: one HTTP round trip, the 404 printed.
    ['musehub repo read (HTTP)', [bin, 'repo', 'read', 'nobody/nothing-here'], 1],
  ];
  const times = cases.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, [, args, code]] of cases.entries()) times[k]!.push(timeOnce(args, env, code));
  }
  const floor = median(times[0]!);
  return cases.map(([scenario], k) => {
    const p50 = median(times[k]!);
    const sorted = [...times[k]!].sort((a, b) => a - b);
    return {
      scenario: `CLI start: ${scenario}`,
      p50ms: round(p50),
      p99ms: round(sorted[sorted.length - 1]!),
      errors: 0,
      peakRssMiB: 0,
      rssGrowthMiB: 0,
      ...(k ? { baseline: 'node -e 0', ratio: round(p50 / floor, 2) } : {}),
    };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  const { soloHub } = await import('./solo-hub.ts');
  const hub = await soloHub('cli');
  try {
    console.table(cliStartRows(hub.gw.url));
  } finally {
    await hub.stop();
  }
}
