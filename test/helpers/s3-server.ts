import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freeLoopbackPort } from '../../src/db/embedded-postgres.ts';
import { aptInstall } from './apt.ts';

/**
 * A real S3 endpoint on loopback for the tests and the bench: OpenStack Swift with its s3api
 * middleware, single node, from Debian's packages (the only S3 server this machine's package
 * sources carry). Everything but /etc/swift/swift.conf (which Swift reads from a fixed path and
 * the package installs) lives in a temporary folder; ports are free ones picked at start, so
 * two runs on one machine do not meet.
 *
 * `node --import tsx test/helpers/s3-server.ts install` installs the packages (.ci/run does).
 */

const run = promisify(execFile);
const PACKAGES = ['swift', 'swift-proxy', 'swift-object', 'swift-container', 'swift-account', 'python3-swift'];
const SERVERS = ['account', 'container', 'object', 'proxy'] as const;
type Server = (typeof SERVERS)[number];

export const S3_TEST_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };

/** Installs Swift with apt-get when it is missing (needs root); a clear error otherwise. */
export async function ensureSwiftInstalled(): Promise<void> {
  if (existsSync('/usr/bin/swift-proxy-server') && existsSync('/etc/swift/swift.conf')) return;
  await aptInstall(PACKAGES, 'the S3 tests need OpenStack Swift');
}

function serverConf(server: Server, port: number, dir: string): string {
  const common = [
    '[DEFAULT]',
    'bind_ip = 127.0.0.1',
    `bind_port = ${port}`,
    'workers = 1',
    `user = ${os.userInfo().username}`,
    `swift_dir = ${dir}/etc`,
    `devices = ${dir}/node`,
    'mount_check = false',
    'log_level = WARNING',
    '',
  ];
  if (server !== 'proxy') {
    return [
      ...common,
      '[pipeline:main]',
      `pipeline = healthcheck ${server}-server`,
      `[app:${server}-server]`,
      `use = egg:swift#${server}`,
      // The container listing is updated synchronously; give it time on a slow runner, since no
      // object-updater daemon runs to apply a late one.
      ...(server === 'object' ? ['container_update_timeout = 10'] : []),
      '[filter:healthcheck]',
      'use = egg:swift#healthcheck',
      '',
    ].join('\n');
  }
  // [section name, egg name]: the pipeline uses the section names.
  const filters = [
    ['catch_errors', 'catch_errors'],
    ['gatekeeper', 'gatekeeper'],
    ['healthcheck', 'healthcheck'],
    ['proxy-logging', 'proxy_logging'],
    ['listing_formats', 'listing_formats'],
    ['copy', 'copy'],
    ['slo', 'slo'],
    ['dlo', 'dlo'],
  ];
  return [
    ...common,
    '[pipeline:main]',
    // s3api before auth, slo between s3api and the proxy (multipart needs it); tempauth needs a
    // cache filter even though no memcached runs.
    'pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server',
    '[app:proxy-server]',
    'use = egg:swift#proxy',
    'account_autocreate = true',
    // One Python process per ring on a shared 2-core runner: by default the proxy gives a node
    // 0.5 s to accept a connection and, after 10 errors, stops asking it for 60 s — with one
    // replica, a busy moment then turns into a minute of 503s ("Please reduce your request
    // rate"), seen on a loaded CI run. Patient timeouts, and the only node is never benched.
    'conn_timeout = 5',
    'node_timeout = 60',
    'error_suppression_limit = 1000000',
    '[filter:s3api]',
    'use = egg:swift#s3api',
    'location = us-east-1',
    '[filter:tempauth]',
    'use = egg:swift#tempauth',
    'user_test_tester = testing .admin',
    '[filter:cache]',
    'use = egg:swift#memcache',
    'memcache_servers = 127.0.0.1:1',
    'set log_level = CRITICAL',
    ...filters.flatMap(([section, egg]) => [`[filter:${section}]`, `use = egg:swift#${egg}`]),
    '',
  ].join('\n');
}

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** Environment for a gateway using this server (MUSEHUB_S3_* and the AWS credentials). */
  env: Record<string, string>;
  /** Stops the servers (the S3 endpoint then refuses connections); start() brings them back. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * Freezes the S3 front end (SIGSTOP to the proxy and its worker): connections are still
   * accepted by the kernel but never answered — a hung server, not a stopped one. Returns thaw.
   */
  freeze(): Promise<() => void>;
  /** Stops everything and removes the folder. */
  close(): Promise<void>;
}

/**
 * How long a Swift server may take to answer its health check. Each is a Python process that
 * imports a large package: a few seconds on a quiet machine, tens of seconds on two busy cores
 * (a CI run beside another job missed the old 30 s).
 */
const HEALTH_WAIT_MS = Number(process.env.MUSEHUB_TEST_SWIFT_WAIT_MS ?? 180_000);

async function waitHealthy(port: number, child: ChildProcess, deadlineMs: number, log: string): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const tail = (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new Error(`swift server on port ${port} exited (${child.exitCode ?? child.signalCode}):\n${tail}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthcheck`)).ok) return;
    } catch {}
    if (Date.now() > until) {
      throw new Error(`swift on port ${port} did not answer /healthcheck within ${deadlineMs} ms; see ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Writes the configuration and rings, starts the four servers and creates the bucket. On any
 * failure: an error that names Swift, and no process or folder left behind.
 */
export async function startS3TestServer(
  bucket = 'musehub-test',
  opts: { healthWaitMs?: number; under?: string } = {},
): Promise<S3TestServer> {
  await ensureSwiftInstalled();
  const dir = await fs.mkdtemp(path.join(opts.under ?? os.tmpdir(), 'musehub-s3-'));
  await Promise.all(['etc', 'node/d1', 'log'].map((d) => fs.mkdir(path.join(dir, d), { recursive: true })));
  const ports = {} as Record<Server, number>;
  for (const s of SERVERS) ports[s] = await freeLoopbackPort();
  for (const s of SERVERS) await fs.writeFile(path.join(dir, 'etc', `${s}-server.conf`), serverConf(s, ports[s], dir));
  // One replica on one device; each ring's three steps are sequential, the rings independent.
  await Promise.all(
    (['account', 'container', 'object'] as const).map(async (ring) => {
      const builder = path.join(dir, 'etc', `${ring}.builder`);
      await run('swift-ring-builder', [builder, 'create', '8', '1', '1']);
      await run('swift-ring-builder', [builder, 'add', `r1z1-127.0.0.1:${ports[ring]}/d1`, '1']);
      // Exit status 1 is a warning (a one-device ring is "unbalanced"), 2 an error.
      await run('swift-ring-builder', [builder, 'rebalance']).catch((err: { code?: number }) => {
        if (err.code !== 1) throw err;
      });
    }),
  );
  let children: ChildProcess[] = [];
  const start = async () => {
    children = SERVERS.map((s) => {
      // -v: log to stdout (without /dev/log Swift's syslog lines are lost), straight into a file.
      const log = openSync(path.join(dir, 'log', `${s}.log`), 'a');
      const child = spawn(`swift-${s}-server`, [path.join(dir, 'etc', `${s}-server.conf`), '-v'], {
        stdio: ['ignore', log, log],
      });
      closeSync(log);
      return child;
    });
    await Promise.all(
      SERVERS.map((s, i) =>
        waitHealthy(ports[s], children[i]!, opts.healthWaitMs ?? HEALTH_WAIT_MS, path.join(dir, 'log', `${s}.log`)),
      ),
    );
  };
  const stop = async () => {
    // SIGTERM to each parent: it stops its worker too (SIGKILL would orphan the worker).
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    children = [];
  };
  const endpoint = `http://127.0.0.1:${ports.proxy}`;
  try {
    await start();
    const s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3_TEST_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).finally(() => s3.destroy());
  } catch (err) {
    // Whatever did start is stopped: a failed start leaves no Swift process behind.
    await stop();
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(`OpenStack Swift (the tests' S3 server) could not start: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    endpoint,
    bucket,
    env: {
      MUSEHUB_OBJECT_STORE: 's3',
      MUSEHUB_S3_BUCKET: bucket,
      MUSEHUB_S3_ENDPOINT: endpoint,
      MUSEHUB_S3_REGION: 'us-east-1',
      MUSEHUB_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
    },
    start,
    stop,
    async freeze() {
      const proxy = children[SERVERS.indexOf('proxy')]!.pid!;
      const workers = (await fs.readFile(`/proc/${proxy}/task/${proxy}/children`, 'utf8')).trim().split(/\s+/);
      const pids = [proxy, ...workers.filter(Boolean).map(Number)];
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      return () => {
        for (const pid of pids) process.kill(pid, 'SIGCONT');
      };
    },
    async close() {
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  if (process.argv[2] !== 'install') {
    console.error('usage: node --import tsx test/helpers/s3-server.ts install');
    process.exit(2);
  }
  await ensureSwiftInstalled();
  console.log('OpenStack Swift is installed');
}
