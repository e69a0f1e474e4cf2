import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';

/**
 * The real, unmodified muse client (0.1.5), built by shared/platform/muse-client/setup.sh in
 * a Debian sid chroot. This suite exists to run it: when it cannot be set up, the suite fails.
 */

const run = promisify(execFile);

/**
 * Where shared/ is: MUSEHUB_SHARED_DIR, which `npm run test:client` sets (the shared/ beside the
 * checkout unless given; .ci/run gives it). Nothing else in test/ knows that folder.
 */
export function sharedDir(): string {
  const dir = process.env.MUSEHUB_SHARED_DIR;
  if (!dir) throw new Error('MUSEHUB_SHARED_DIR is not set: run this suite with `npm run test:client`');
  return path.resolve(dir);
}

/** Runs setup.sh (about 2 minutes the first time, then instant) and returns the wrapper's path. */
export async function setUpMuseClient(): Promise<string> {
  const setup = path.join(sharedDir(), 'platform/muse-client/setup.sh');
  if (!existsSync(setup)) {
    throw new Error(
      `the real-client suite needs ${setup} (shared/ beside the checkout, or MUSEHUB_SHARED_DIR); it is not there`,
    );
  }
  const { stdout } = await run('bash', [setup], { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 }).catch(
    (err: { stderr?: string; message: string }) => {
      throw new Error(`muse client setup failed: ${err.stderr?.slice(-4000) || err.message}`);
    },
  );
  const wrapper = stdout.trim().split('\n').at(-1)!;
  if (!existsSync(wrapper)) throw new Error(`setup.sh printed ${wrapper}, which does not exist`);
  return wrapper;
}

export interface MuseResult {
  code: number | null;
  /** stdout and stderr together, in order: the client prints its errors on stdout. */
  out: string;
}

/**
 * One person at one machine: their own HOME (the client keeps one token per host:port there)
 * and working folders under /tmp (the wrapper's chroot sees only the host's /tmp).
 */
export class MuseUser {
  readonly home: string;
  constructor(
    readonly wrapper: string,
    readonly root: string,
    readonly name: string,
    readonly env: Record<string, string> = {},
  ) {
    this.home = path.join(root, `home-${name}`);
  }

  /** `muse …` in `cwd` (relative to this user's root), failing the test unless it exits 0. */
  async ok(cwd: string, ...args: string[]): Promise<string> {
    const r = await this.run(cwd, ...args);
    if (r.code !== 0) throw new Error(`muse ${args.join(' ')} exited ${r.code}:\n${r.out}`);
    return r.out;
  }

  /** `muse …` that must fail; returns what it printed. */
  async fails(cwd: string, ...args: string[]): Promise<string> {
    const r = await this.run(cwd, ...args);
    if (r.code === 0) throw new Error(`muse ${args.join(' ')} succeeded but should have failed:\n${r.out}`);
    return r.out;
  }

  async run(cwd: string, ...args: string[]): Promise<MuseResult> {
    const dir = path.resolve(this.root, cwd);
    await fs.mkdir(dir, { recursive: true });
    await fs.mkdir(this.home, { recursive: true });
    const child = spawn(this.wrapper, args, {
      cwd: dir,
      env: { ...process.env, ...this.env, MUSE_HOME_DIR: this.home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    return { code, out };
  }

  /** init → files → commit, in a new folder; returns the folder (relative to root). */
  async newRepo(dir: string, files: Record<string, string | Buffer>, message = 'first'): Promise<string> {
    await this.ok(dir, 'init');
    await writeFiles(path.join(this.root, dir), files);
    await this.ok(dir, 'commit', '-m', message);
    return dir;
  }

  /** Stores a token for `hubUrl` the way a person does: `MUSE_TOKEN=… muse auth login --hub URL`. */
  async login(hubUrl: string, token: string): Promise<void> {
    const r = await new MuseUser(this.wrapper, this.root, this.name, { ...this.env, MUSE_TOKEN: token }).run(
      '.',
      'auth',
      'login',
      '--hub',
      hubUrl,
      '--name',
      this.name,
    );
    expect(r.out).toContain(`Authenticated as human '${this.name}'`);
  }
}

export async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
}

/** Every tracked file of a working tree (not .muse/), as path → sha256. */
export async function treeOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of (await fs.readdir(dir, { recursive: true })).sort()) {
    if (entry === '.muse' || entry.startsWith(`.muse${path.sep}`)) continue;
    const file = path.join(dir, entry);
    if (!(await fs.stat(file)).isFile()) continue;
    out[entry] = createHash('sha256')
      .update(await fs.readFile(file))
      .digest('hex');
  }
  return out;
}

/** The two working trees hold the same files, byte for byte. */
export async function expectSameTree(actual: string, expected: string): Promise<void> {
  const [a, e] = [await treeOf(actual), await treeOf(expected)];
  expect(Object.keys(e).length).toBeGreaterThan(0);
  expect(a).toEqual(e);
}
