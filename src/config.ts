import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { readTlsMaterial, TlsFileError, type TlsFiles } from './net/tls.ts';
import { TrustedProxies } from './net/trusted-proxies.ts';
import { WebhookTargetPolicy } from './net/webhook-target.ts';
import type { S3Settings } from './storage/s3/client.ts';

/** A configuration problem: printed as one line at start, then the process exits. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** `24h`, `30m`, `0s`…, or a bare `0` (off) → milliseconds. */
const duration = z.string().transform((v, ctx) => {
  const ms = v === '0' ? 0 : parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: 'expected a number and a unit (s, m, h, d) such as 24h, or 0' });
    return z.NEVER;
  }
  return ms;
});

const postgresUrl = z
  .string()
  .url('expected a URL such as postgres://user:pass@host:5432/db')
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected a postgres:// or postgresql:// URL');

const httpUrl = z
  .string()
  .url('expected an absolute URL such as https://s3.example')
  .refine((v) => /^https?:\/\//.test(v), 'expected an http:// or https:// URL');

/** A comma-separated list, trimmed, empty entries dropped; `check` throws on an entry it refuses. */
const commaList = (check: (entries: string[]) => unknown) =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean),
    )
    .superRefine((entries, ctx) => {
      try {
        check(entries);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .default([]);

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  PORT: intIn(0, 65535).default(8080),
  MUSEHUB_DATA_DIR: z.string().min(1, 'must not be empty').default('./.musehub'),
  MUSEHUB_PUBLIC_URL: z
    .string()
    .url('expected an absolute URL such as https://hub.example')
    .refine((v) => /^https?:\/\//.test(v), 'expected an http:// or https:// URL')
    .optional(),
  LOG_LEVEL: z.enum(logLevels, { error: `expected one of ${logLevels.join(', ')}` }).default('info'),
  MUSEHUB_REPO_CACHE_TTL_MS: intIn(0, 3_600_000).default(5_000),
  MUSEHUB_REPO_CACHE_MAX: intIn(1, 10_000_000).default(10_000),
  MUSEHUB_DB_POOL_MAX: intIn(1, 1000).default(10),
  MUSEHUB_DB_STATEMENT_TIMEOUT_MS: intIn(0, 86_400_000).default(60_000),
  MUSEHUB_WORKERS: intIn(1, 64).optional(),
  MUSEHUB_RATE_LIMIT_PER_MINUTE: intIn(0, 10_000_000).default(600),
  MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO: intIn(0, 10_000).default(8),
  MUSEHUB_MCP_MAX_CONCURRENT_CALLS: intIn(0, 10_000).default(2),
  MUSEHUB_REQUEST_TIMEOUT_MS: intIn(1_000, 3_600_000).default(300_000),
  MUSEHUB_OBJECT_STORE: z
    .enum(['filesystem', 'postgres', 's3'], { error: 'expected filesystem, postgres or s3' })
    .default('filesystem'),
  MUSEHUB_S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 of a-z, 0-9, dot, hyphen)')
    .optional(),
  MUSEHUB_S3_PREFIX: z
    .string()
    .regex(/^[^/].*\/$/, 'expected a key prefix ending in "/" such as hub/ (no leading "/")')
    .optional(),
  MUSEHUB_S3_REGION: z.string().min(1).optional(),
  MUSEHUB_S3_ENDPOINT: httpUrl.optional(),
  MUSEHUB_S3_PRESIGN_ENDPOINT: httpUrl.optional(),
  MUSEHUB_S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .transform((v) => v === 'true')
    .default(false),
  MUSEHUB_S3_TIMEOUT_MS: intIn(100, 600_000).default(30_000),
  MUSEHUB_SHUTDOWN_TIMEOUT_MS: intIn(0, 600_000).default(10_000),
  // 0 keeps deleted repos forever (restorable); N purges them N days after their delete.
  MUSEHUB_DELETED_REPO_RETENTION_DAYS: intIn(0, 36_500).default(0),
  MUSEHUB_PURGE_INTERVAL_MS: intIn(1_000, 86_400_000).default(3_600_000),
  // Garbage collection of object bytes: how often (0: never on a schedule), and how young an
  // unnamed copy may be and still be kept (docs/storage-gc.md).
  MUSEHUB_GC_INTERVAL: duration.default(24 * 3_600_000),
  MUSEHUB_GC_GRACE: duration.default(3_600_000),
  MUSEHUB_WEBHOOK_POLL_MS: intIn(10, 600_000).default(1_000),
  MUSEHUB_WEBHOOK_BACKOFF_MS: intIn(1, 3_600_000).default(2_000),
  MUSEHUB_WEBHOOK_MAX_ATTEMPTS: intIn(1, 100).default(6),
  MUSEHUB_WEBHOOK_TIMEOUT_MS: intIn(100, 120_000).default(10_000),
  MUSEHUB_WEBHOOK_ALLOWED_HOSTS: commaList((entries) => new WebhookTargetPolicy(entries)),
  MUSEHUB_MAX_BODY_BYTES: intIn(1024, 1024 ** 3).default(64 * 1024 * 1024),
  MUSEHUB_MAX_OBJECT_BYTES: intIn(1, 1024 ** 3).default(64 * 1024 * 1024),
  // Just under the muse client's 64 MiB response limit, leaving room for branches added later.
  MUSEHUB_MAX_CLONE_BYTES: intIn(0, 1024 ** 4).default(63 * 1024 * 1024),
  MUSEHUB_PRESIGN_TTL_SECONDS: intIn(1, 86_400).default(900),
  MUSEHUB_PRESIGN_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  MUSEHUB_TLS_CERT: z.string().optional(),
  MUSEHUB_TLS_KEY: z.string().optional(),
  MUSEHUB_HTTP_REDIRECT_PORT: intIn(1, 65535).optional(),
  MUSEHUB_TRUSTED_PROXIES: commaList((entries) => new TrustedProxies(entries)),
  MUSEHUB_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

export interface Config {
  databaseUrl: string | undefined;
  host: string;
  port: number;
  dataDir: string;
  /** Base URL for links; undefined until the server knows its port (PORT=0 and no MUSEHUB_PUBLIC_URL). */
  publicUrl: string | undefined;
  logLevel: (typeof logLevels)[number];
  repoCache: { ttlMs: number; max: number };
  dbPoolMax: number;
  /** PostgreSQL statement_timeout for every pooled connection; 0 = none. */
  dbStatementTimeoutMs: number;
  /** Where object bytes live: files under MUSEHUB_DATA_DIR/objects, the database, or an S3 bucket. */
  objectStore: 'filesystem' | 'postgres' | 's3';
  /** The bucket and how to reach it, when objectStore is s3 (credentials: the AWS SDK's own chain). */
  s3: S3Settings | undefined;
  /** Gateway processes (node:cluster) behind one port; 1 = no cluster. */
  workers: number;
  shutdownTimeoutMs: number;
  /** Deleted repos: purged `deletedRepoDays` after their delete (0: kept forever), checked every purgeIntervalMs. */
  retention: { deletedRepoDays: number; purgeIntervalMs: number };
  /** Scheduled garbage collection of object bytes: every intervalMs (0: off), keeping copies younger than graceMs. */
  gc: { intervalMs: number; graceMs: number };
  webhooks: {
    pollIntervalMs: number;
    backoffMs: number;
    maxAttempts: number;
    timeoutMs: number;
    /** Beyond public addresses, what webhooks may reach (loopback, private, CIDRs, host names). */
    allowedHosts: string[];
  };
  transport: {
    maxBodyBytes: number;
    /** The largest object accepted: MUSEHUB_MAX_OBJECT_BYTES, and never more than fits in a clone. */
    maxObjectBytes: number;
    /** The largest clone (fetch response) a push may leave a branch needing; 0 = no check. */
    maxCloneBytes: number;
    presignTtlSeconds: number;
    /** push and fetch requests a minute per user (or per address when anonymous); 0 = no limit. */
    rateLimitPerMinute: number;
    /** pushes in flight per repo and process; 0 = no cap. */
    maxConcurrentPushesPerRepo: number;
    /** MCP tool and resource calls running at once per process (the rest wait); 0 = no cap. */
    mcpMaxConcurrentCalls: number;
  };
  /** Whole-request receive timeout (slow clients, slowloris); headers must arrive within a minute. */
  requestTimeoutMs: number;
  presignSecret: string | undefined;
  /** Serve HTTPS with these PEM files (checked at load: readable, matching, not expired); undefined = plain HTTP. */
  tls: TlsFiles | undefined;
  /** A plain-HTTP listener on this port that only redirects to the HTTPS URL. */
  httpRedirectPort: number | undefined;
  /** Peers whose X-Forwarded-For/-Proto/-Host are believed (IPs, CIDRs, loopback, private). */
  trustedProxies: string[];
  /** Bearer token for GET /metrics; unset = only clients on this machine may read it. */
  metricsToken: string | undefined;
}

function tlsFiles(e: z.infer<typeof envSchema>, cwd: string): TlsFiles | undefined {
  const cert = e.MUSEHUB_TLS_CERT;
  const key = e.MUSEHUB_TLS_KEY;
  if (!cert && !key) {
    if (e.MUSEHUB_HTTP_REDIRECT_PORT !== undefined) {
      throw new ConfigError('MUSEHUB_HTTP_REDIRECT_PORT: only with HTTPS (set MUSEHUB_TLS_CERT and MUSEHUB_TLS_KEY)');
    }
    return undefined;
  }
  if (!cert) throw new ConfigError('MUSEHUB_TLS_CERT: required with MUSEHUB_TLS_KEY (the PEM certificate file)');
  if (!key) throw new ConfigError('MUSEHUB_TLS_KEY: required with MUSEHUB_TLS_CERT (the PEM private key file)');
  if (e.MUSEHUB_HTTP_REDIRECT_PORT !== undefined && e.MUSEHUB_HTTP_REDIRECT_PORT === e.PORT) {
    throw new ConfigError(`MUSEHUB_HTTP_REDIRECT_PORT: must differ from PORT (${e.PORT})`);
  }
  const files = { certPath: path.resolve(cwd, cert), keyPath: path.resolve(cwd, key) };
  try {
    readTlsMaterial(files);
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(`${err.variable}: ${err.message}`);
    throw err;
  }
  return files;
}

function s3Settings(e: z.infer<typeof envSchema>): S3Settings | undefined {
  if (e.MUSEHUB_OBJECT_STORE !== 's3') return undefined;
  if (!e.MUSEHUB_S3_BUCKET) throw new ConfigError('MUSEHUB_S3_BUCKET: required when MUSEHUB_OBJECT_STORE=s3');
  return {
    bucket: e.MUSEHUB_S3_BUCKET,
    prefix: e.MUSEHUB_S3_PREFIX ?? '',
    region: e.MUSEHUB_S3_REGION,
    endpoint: e.MUSEHUB_S3_ENDPOINT,
    presignEndpoint: e.MUSEHUB_S3_PRESIGN_ENDPOINT,
    forcePathStyle: e.MUSEHUB_S3_FORCE_PATH_STYLE,
    timeoutMs: e.MUSEHUB_S3_TIMEOUT_MS,
  };
}

/** Reads and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  // An empty variable means "unset", as in most twelve-factor apps.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    const value = present[name];
    const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
    throw new ConfigError(`${name}: ${issue?.message ?? 'invalid value'}${shown}`);
  }
  const e = parsed.data;
  const urlHost = e.HOST.includes(':') ? `[${e.HOST}]` : e.HOST;
  const tls = tlsFiles(e, cwd);
  return {
    databaseUrl: e.DATABASE_URL,
    host: e.HOST,
    port: e.PORT,
    dataDir: path.resolve(cwd, e.MUSEHUB_DATA_DIR),
    publicUrl: e.MUSEHUB_PUBLIC_URL
      ? e.MUSEHUB_PUBLIC_URL.replace(/\/+$/, '')
      : e.PORT === 0
        ? undefined
        : `${tls ? 'https' : 'http'}://${urlHost}:${e.PORT}`,
    logLevel: e.LOG_LEVEL,
    repoCache: {
      ttlMs: e.MUSEHUB_REPO_CACHE_TTL_MS,
      max: e.MUSEHUB_REPO_CACHE_MAX,
    },
    dbPoolMax: e.MUSEHUB_DB_POOL_MAX,
    dbStatementTimeoutMs: e.MUSEHUB_DB_STATEMENT_TIMEOUT_MS,
    objectStore: e.MUSEHUB_OBJECT_STORE,
    s3: s3Settings(e),
    // One per core, at most 4: each worker holds its own pool (MUSEHUB_DB_POOL_MAX) plus a
    // LISTEN session, and PostgreSQL's default max_connections is 100.
    workers: e.MUSEHUB_WORKERS ?? Math.min(os.availableParallelism(), 4),
    shutdownTimeoutMs: e.MUSEHUB_SHUTDOWN_TIMEOUT_MS,
    retention: {
      deletedRepoDays: e.MUSEHUB_DELETED_REPO_RETENTION_DAYS,
      purgeIntervalMs: e.MUSEHUB_PURGE_INTERVAL_MS,
    },
    gc: { intervalMs: e.MUSEHUB_GC_INTERVAL, graceMs: e.MUSEHUB_GC_GRACE },
    webhooks: {
      pollIntervalMs: e.MUSEHUB_WEBHOOK_POLL_MS,
      backoffMs: e.MUSEHUB_WEBHOOK_BACKOFF_MS,
      maxAttempts: e.MUSEHUB_WEBHOOK_MAX_ATTEMPTS,
      timeoutMs: e.MUSEHUB_WEBHOOK_TIMEOUT_MS,
      allowedHosts: e.MUSEHUB_WEBHOOK_ALLOWED_HOSTS,
    },
    transport: {
      maxBodyBytes: e.MUSEHUB_MAX_BODY_BYTES,
      maxObjectBytes: e.MUSEHUB_MAX_CLONE_BYTES
        ? Math.min(e.MUSEHUB_MAX_OBJECT_BYTES, Math.max(1, e.MUSEHUB_MAX_CLONE_BYTES - 1024))
        : e.MUSEHUB_MAX_OBJECT_BYTES,
      maxCloneBytes: e.MUSEHUB_MAX_CLONE_BYTES,
      presignTtlSeconds: e.MUSEHUB_PRESIGN_TTL_SECONDS,
      rateLimitPerMinute: e.MUSEHUB_RATE_LIMIT_PER_MINUTE,
      maxConcurrentPushesPerRepo: e.MUSEHUB_MAX_CONCURRENT_PUSHES_PER_REPO,
      mcpMaxConcurrentCalls: e.MUSEHUB_MCP_MAX_CONCURRENT_CALLS,
    },
    requestTimeoutMs: e.MUSEHUB_REQUEST_TIMEOUT_MS,
    presignSecret: e.MUSEHUB_PRESIGN_SECRET,
    tls,
    httpRedirectPort: e.MUSEHUB_HTTP_REDIRECT_PORT,
    trustedProxies: e.MUSEHUB_TRUSTED_PROXIES,
    metricsToken: e.MUSEHUB_METRICS_TOKEN,
  };
}
