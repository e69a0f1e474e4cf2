import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { isAlive } from '../process-alive.ts';
import { isReachableBy, locatePgBinaries, type PgBinaries } from './pg-binaries.ts';

export interface EmbeddedPostgres {
  /** Connection URL of the `musehub` database on this cluster. */
  url: string;
  /** URL of the maintenance database (`postgres`), for CREATE/DROP DATABASE. */
  adminUrl: string;
  port: number;
  /** False when another live process started the cluster and we only connected to it. */
  owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The cluster lives in `<dir>/pg`; credentials and the owner record beside it. */
  dir: string;
  database?: string;
  log?: (line: string) => void;
  startTimeoutMs?: number;
  /** Listen on this port (e.g. to come back where clients expect it after a stop); default: any free one. */
  port?: number;
}

interface Credentials {
  user: string;
  password: string;
}
interface OwnerRecord {
  pid: number;
  port: number;
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

const readJson = async <T>(file: string): Promise<T | undefined> =>
  fs
    .readFile(file, 'utf8')
    .then((s) => JSON.parse(s) as T)
    .catch(() => undefined);

/** A port nothing listens on right now, on 127.0.0.1. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function runToCompletion(cmd: string, args: string[], bins: PgBinaries): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      ...bins.runAs,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} failed (exit ${code}): ${output.trim()}`)),
    );
  });
}

/** The data directory was left by a process that died without stopping PostgreSQL: stop that postmaster. */
async function stopOrphan(pgDir: string, log: (l: string) => void): Promise<void> {
  const pidFile = await fs.readFile(path.join(pgDir, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(pidFile.split('\n')[0]);
  if (!pid || !isAlive(pid)) return;
  log(`stopping orphaned PostgreSQL (pid ${pid}) left by a previous run`);
  process.kill(pid, 'SIGINT'); // fast shutdown
  if (!(await waitUntil(() => !isAlive(pid), 15_000))) {
    process.kill(pid, 'SIGQUIT'); // immediate shutdown
    await waitUntil(() => !isAlive(pid), 5_000);
  }
}

function startPostmaster(bins: PgBinaries, pgDir: string, port: number, log: (l: string) => void, timeoutMs: number) {
  const child = spawn(
    bins.postgres,
    ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    {
      ...bins.runAs,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: Ctrl-C reaches only the gateway, which drains requests before stopping PostgreSQL.
      detached: true,
    },
  );
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`PostgreSQL did not start within ${timeoutMs} ms`)), timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output += text;
      for (const line of text.split('\n')) if (line.trim()) log(line.trim());
      if (text.includes('ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL exited during start (exit ${code}): ${output.trim().slice(-2000)}`));
    });
  });
  child.stdout?.resume();
  return { child, ready };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const bounded = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    const done = await Promise.race([exited.then(() => true), timedOut]);
    clearTimeout(timer);
    return done;
  };
  child.kill('SIGINT');
  if (await bounded(15_000)) return;
  child.kill('SIGQUIT');
  if (await bounded(5_000)) return;
  child.kill('SIGKILL');
  await bounded(5_000);
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/**
 * Starts (or connects to) a real PostgreSQL cluster kept in `dir/pg`.
 * First run: initdb with a generated password. Later runs reuse the data.
 * A cluster already started by another live musehub process is shared, not restarted.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => undefined);
  const database = opts.database ?? 'musehub';
  const dir = path.resolve(opts.dir);
  const pgDir = path.join(dir, 'pg');
  const credFile = path.join(dir, 'embedded-pg.json');
  const ownerFile = path.join(dir, 'embedded-pg.owner.json');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });

  const bins = await locatePgBinaries();
  if (bins.runAs) {
    // The cluster directory must be reachable by the unprivileged user; the rest of dir stays private.
    await fs.chmod(dir, 0o711);
    if (!(await isReachableBy(dir, bins.runAs))) {
      throw new Error(
        `PostgreSQL runs as the OS user 'postgres', which cannot reach ${dir} (a parent directory is not searchable). ` +
          'Set MUSEHUB_DATA_DIR to a directory under /var/lib or /srv, or set DATABASE_URL.',
      );
    }
  }

  let creds = await readJson<Credentials>(credFile);
  const initialised = await fs.stat(path.join(pgDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  const url = (port: number, db: string) =>
    `postgres://${creds!.user}:${encodeURIComponent(creds!.password)}@127.0.0.1:${port}/${db}`;

  if (initialised && creds) {
    const owner = await readJson<OwnerRecord>(ownerFile);
    if (owner && owner.pid !== process.pid && isAlive(owner.pid)) {
      const shared = { url: url(owner.port, database), adminUrl: url(owner.port, 'postgres'), port: owner.port };
      await ensureDatabase(shared.adminUrl, database);
      return { ...shared, owned: false, stop: async () => undefined };
    }
    await stopOrphan(pgDir, log);
  } else {
    creds = { user: 'musehub', password: randomBytes(24).toString('base64url') };
    await fs.rm(pgDir, { recursive: true, force: true });
    await fs.mkdir(pgDir, { mode: 0o700 });
    if (bins.runAs) await fs.chown(pgDir, bins.runAs.uid, bins.runAs.gid);
    const pwFile = path.join(os.tmpdir(), `musehub-pw-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.writeFile(pwFile, `${creds.password}\n`, { mode: 0o644 });
    try {
      await runToCompletion(
        bins.initdb,
        [
          `--pgdata=${pgDir}`,
          '--auth=scram-sha-256',
          `--username=${creds.user}`,
          `--pwfile=${pwFile}`,
          '--encoding=UTF8',
          '--no-locale',
        ],
        bins,
      );
    } finally {
      await fs.rm(pwFile, { force: true });
    }
    await fs.writeFile(credFile, JSON.stringify(creds), { mode: 0o600 });
  }

  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  let lastError: unknown;
  // A free port can be taken between choosing and binding it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = attempt === 0 && opts.port ? opts.port : await freeLoopbackPort();
    const { child, ready } = startPostmaster(bins, pgDir, port, log, timeoutMs);
    try {
      await ready;
    } catch (err) {
      lastError = err;
      await stopChild(child);
      if (String(err).includes('could not bind')) continue;
      throw err;
    }
    await fs.writeFile(ownerFile, JSON.stringify({ pid: process.pid, port } satisfies OwnerRecord));
    const adminUrl = url(port, 'postgres');
    await ensureDatabase(adminUrl, database);
    return {
      url: url(port, database),
      adminUrl,
      port,
      owned: true,
      stop: async () => {
        await stopChild(child);
        await fs.rm(ownerFile, { force: true });
      },
    };
  }
  throw lastError;
}
