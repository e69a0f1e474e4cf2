/**
 * The real, unmodified muse client (0.1.5, built by shared/platform/muse-client/setup.sh) against
 * a bench gateway: `muse push` of a working tree of 1,000 files and `muse clone` of what it
 * pushed, beside `muse --version` — the client's own start-up, the floor under both. Only when
 * MUSEHUB_SHARED_DIR names the shared/ folder (the bench reads nothing beside the checkout on its
 * own); without it the rows are left out and a note says so.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Row } from './row.ts';

const FILES = 1000;
const ROUNDS = 3;
const round = (n: number) => Math.round(n);

export async function realClientRows(opts: {
  gatewayUrl: string;
  owner: string;
  token: string;
  /** Creates a public repo on the gateway; returns its slug. */
  createRepo: (name: string) => Promise<string>;
}): Promise<{ rows: Row[]; notes: string[] }> {
  const shared = process.env.MUSEHUB_SHARED_DIR;
  if (!shared) {
    return { rows: [], notes: ['real client: not measured (set MUSEHUB_SHARED_DIR to the shared/ folder)'] };
  }
  const setup = path.join(path.resolve(shared), 'platform/muse-client/setup.sh');
  if (!existsSync(setup)) throw new Error(`MUSEHUB_SHARED_DIR is set, but ${setup} is not there`);
  const { stdout } = await promisify(execFile)('bash', [setup], { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 });
  const wrapper = stdout.trim().split('\n').at(-1)!;
  // The client sees only the host's /tmp.
  const work = await fs.mkdtemp('/tmp/musehub-bench-muse-');
  const home = path.join(work, 'home');
  await fs.mkdir(home);
  const muse = async (cwd: string, ...args: string[]) => {
    await fs.mkdir(cwd, { recursive: true });
    const started = performance.now();
    const child = spawn(wrapper, args, {
      cwd,
      env: { ...process.env, MUSE_HOME_DIR: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`muse ${args.join(' ')} exited ${code}:\n${out.slice(-2000)}`);
    return performance.now() - started;
  };
  try {
    const login = spawn(wrapper, ['auth', 'login', '--hub', opts.gatewayUrl, '--name', opts.owner], {
      cwd: work,
      env: { ...process.env, MUSE_HOME_DIR: home, NO_COLOR: '1', MUSE_TOKEN: opts.token },
      stdio: 'ignore',
    });
    if ((await new Promise((r) => login.on('close', r))) !== 0) throw new Error('muse auth login failed');
    const times = { version: [] as number[], push: [] as number[], clone: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      times.version.push(await muse(work, '--version'));
      const tree = path.join(work, `tree-${i}`);
      await muse(tree, 'init');
      for (let f = 0; f < FILES; f++) {
        const dir = path.join(tree, `part-${f % 20}`);
        await fs.mkdir(dir, { recursive: true });
        await fs.writeFile(path.join(dir, `take-${f}.txt`), randomBytes(512 + (f % 8) * 256).toString('base64'));
      }
      await muse(tree, 'commit', '-m', 'a thousand takes');
      const slug = await opts.createRepo(`real-client-${i}`);
      const remote = `${opts.gatewayUrl}/${opts.owner}/${slug}`;
      await muse(tree, 'remote', 'add', 'origin', remote);
      times.push.push(await muse(tree, 'push', 'origin', 'main'));
      times.clone.push(await muse(work, 'clone', remote, path.join(work, `clone-${i}`)));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const row = (scenario: string, xs: number[], floor?: number): Row => ({
      scenario,
      p50ms: round(median(xs)),
      p99ms: round(Math.max(...xs)),
      errors: 0,
      peakRssMiB: 0,
      rssGrowthMiB: 0,
      ...(floor ? { baseline: 'muse --version', ratio: Math.round((median(xs) / floor) * 100) / 100 } : {}),
    });
    const floor = median(times.version);
    return {
      rows: [
        row('real muse --version (the client floor)', times.version),
        row(`real muse push, ${FILES.toLocaleString('en')} files (one commit)`, times.push, floor),
        row(`real muse clone, ${FILES.toLocaleString('en')} files`, times.clone, floor),
      ],
      notes: [
        `real client (muse 0.1.5, medians of ${ROUNDS}): --version ${round(floor)} ms, push of ${FILES} files ${round(median(times.push))} ms, ` +
          `clone ${round(median(times.clone))} ms — the gateway's part is what is left above the client's own start-up`,
      ],
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
