// The compiled form of the sources, made once per version of them and kept under dist/<key>/:
// plain JavaScript that Node runs without a TypeScript loader in the process (each process then
// starts sooner and holds ~20 MiB less). The key is a hash of every source file's path, size and
// mtime, so an edited source is never served from an old build; `npm install` makes the first
// one (the `prepare` script). Without TypeScript (`npm install --omit=dev`) there is no build and
// bin/musehub.mjs runs the sources through tsx, as before.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');
/** What the build reads: a change to any of these is a new build. */
const INPUTS = ['src', 'mikro-orm.config.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
/** Files the sources read at run time beside themselves (import.meta.url), copied as they are. */
const ASSET = /\.(css)$/;
/** Builds older than this are removed when a new one is made (a running process may still lazily import from its own). */
const KEEP_MS = 7 * 24 * 3600 * 1000;

function walk(rel, out) {
  const abs = path.join(root, rel);
  const stat = fs.statSync(abs, { throwIfNoEntry: false });
  if (!stat) return;
  if (stat.isDirectory()) {
    for (const name of fs.readdirSync(abs).sort()) walk(path.join(rel, name), out);
  } else {
    out.push(`${rel}\0${stat.size}\0${stat.mtimeMs}`);
  }
}

function sourceKey() {
  const lines = [];
  for (const input of INPUTS) walk(input, lines);
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
}

function copyAssets(from, to) {
  for (const name of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, name.name);
    const dst = path.join(to, name.name);
    if (name.isDirectory()) copyAssets(src, dst);
    else if (ASSET.test(name.name)) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(src, dst);
    }
  }
}

function prune(keep) {
  for (const name of fs.readdirSync(dist)) {
    if (name === keep) continue;
    const abs = path.join(dist, name);
    const old = Date.now() - fs.statSync(abs).mtimeMs > KEEP_MS;
    // An unfinished build of a process that died, or a build nobody has started for a week.
    if (old || (name.startsWith('tmp-') && Date.now() - fs.statSync(abs).mtimeMs > 600_000)) {
      fs.rmSync(abs, { recursive: true, force: true });
    }
  }
}

/** Compiles the sources into dist/<key> unless that exists; its CLI entry, or null when it cannot be built. */
export function compiledEntry({ build = true } = {}) {
  const key = sourceKey();
  const dir = path.join(dist, key);
  const entry = path.join(dir, 'src/cli/main.js');
  if (fs.existsSync(path.join(dir, 'complete'))) return entry;
  if (!build) return null;
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  if (!fs.existsSync(tsc)) return null;
  fs.mkdirSync(dist, { recursive: true });
  const tmp = path.join(dist, `tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  // Type errors do not stop the emit: `npm run typecheck` is where they are reported.
  spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', tmp], {
    cwd: root,
    stdio: 'ignore',
  });
  if (!fs.existsSync(path.join(tmp, 'src/cli/main.js'))) {
    fs.rmSync(tmp, { recursive: true, force: true });
    return null;
  }
  copyAssets(path.join(root, 'src'), path.join(tmp, 'src'));
  // src/cli/main.ts reads ../../package.json (its version) relative to itself.
  fs.copyFileSync(path.join(root, 'package.json'), path.join(tmp, 'package.json'));
  fs.writeFileSync(path.join(tmp, 'complete'), `${key}\n`);
  try {
    fs.renameSync(tmp, dir);
  } catch {
    // Another process finished the same build first: use theirs.
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  prune(key);
  return entry;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const entry = compiledEntry();
  if (!entry) {
    console.error('musehub: no build (TypeScript is not installed); bin/musehub.mjs runs the sources with tsx');
  } else {
    console.log(`musehub: built ${path.relative(root, path.dirname(path.dirname(path.dirname(entry))))}`);
  }
}
