import cluster from 'node:cluster';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { migrateUp, openOrm } from './database.ts';
import { LivenessListener } from './db/liveness-listener.ts';
import { provideDatabase } from './db/provide-database.ts';
import { greet } from './greeting.ts';
import { WebhookDispatcher } from './hub/webhook.dispatcher.ts';
import { GcScheduler } from './integrity/gc.scheduler.ts';
import type { Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { daysLeft, EXPIRY_WARNING_DAYS, readTlsMaterial, TLS_MIN_VERSION } from './net/tls.ts';
import { TrustedProxies } from './net/trusted-proxies.ts';
import { RepoLivenessCache } from './repos/index.ts';
import { liveRefs } from './repos/live-repo.ts';
import { PurgeScheduler } from './repos/purge.scheduler.ts';
import type { ObjectStore } from './storage/object-store.ts';
import { openObjectStore } from './storage/open.ts';
import { loadPresignKey } from './transport/presign.ts';
import { TokenCache } from './users/index.ts';

export interface RunningGateway {
  url: string;
  port: number;
  orm: MikroORM;
  server: ServerType;
  dispatcher: WebhookDispatcher;
  app: ReturnType<typeof createApp>;
  cache: RepoLivenessCache;
  tokens: TokenCache;
  store: ObjectStore;
  metrics: Metrics;
  listener: LivenessListener;
  /**
   * Reads MUSEHUB_TLS_CERT/KEY again and serves them to new connections (open ones keep theirs).
   * A pair that fails the start-up checks is logged and the old one kept. False when nothing changed.
   */
  reloadTls(): boolean;
  /** Stops accepting, lets in-flight requests finish (bounded), then closes the ORM and the embedded database. */
  close(): Promise<void>;
}

/** config → database (embedded or DATABASE_URL) → migrate → serve. */
export async function startGateway(config: Config, logger: Logger): Promise<RunningGateway> {
  const started = performance.now();
  const db = await provideDatabase(config, (line) => logger.debug({ postgres: line }));
  logger.info({ database: db.source, ms: Math.round(performance.now() - started) }, 'database ready');
  let orm: MikroORM | undefined;
  try {
    orm = await openOrm(db.url, config.dbPoolMax, undefined, config.dbStatementTimeoutMs);
    // Every cluster worker asks too: the first applies what is pending, the others wait for it.
    const applied = await migrateUp(orm);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  } catch (err) {
    await orm?.close();
    await db.stop();
    throw err;
  }

  const cache = new RepoLivenessCache(orm, config.repoCache, (repoId) => liveRefs(orm.em.fork(), repoId));
  const tokens = new TokenCache(orm, config.repoCache);
  const listener = new LivenessListener(db.url, [cache, tokens], logger.child({ component: 'liveness' }));
  await listener.start();
  let store: ObjectStore;
  try {
    store = await openObjectStore(config, orm, logger.child({ component: 'store' }));
  } catch (err) {
    await listener.stop();
    await orm.close();
    await db.stop();
    throw err;
  }
  const presignKey = await loadPresignKey(config.dataDir, config.presignSecret);
  // Listen first so that PORT=0 (any free port) still yields a correct public URL in links.
  let app: ReturnType<typeof createApp> | undefined;
  const tlsMaterial = config.tls ? readTlsMaterial(config.tls) : undefined;
  const server = createAdaptorServer({
    fetch: (req, env) => app!.fetch(req, env),
    ...(tlsMaterial ? { createServer: https.createServer } : {}),
    serverOptions: {
      ...(tlsMaterial ? { cert: tlsMaterial.cert, key: tlsMaterial.key, minVersion: TLS_MIN_VERSION } : {}),
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      // How often Node checks those timeouts (its default, 30 s, would let a slow client
      // hold a socket well past a short timeout).
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4))),
    },
  });
  const listen = (srv: http.Server, port: number) =>
    new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, config.host, () => {
        srv.off('error', reject);
        resolve();
      });
    });
  const stopAll = async () => {
    await store.close();
    await listener.stop();
    await orm.close();
    await db.stop();
  };
  try {
    await listen(server as http.Server, config.port);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${tlsMaterial ? 'https' : 'http'}://${host}:${port}`;
  const publicUrl = config.publicUrl ?? url;
  if (tlsMaterial) logCertificate(logger, 'serving certificate', tlsMaterial);
  // The plain listener of MUSEHUB_HTTP_REDIRECT_PORT answers nothing but "go to the HTTPS URL".
  const redirect = config.httpRedirectPort ? http.createServer(redirectTo(publicUrl)) : undefined;
  if (redirect) {
    try {
      await listen(redirect, config.httpRedirectPort!);
    } catch (err) {
      server.close();
      await stopAll();
      throw err;
    }
  }
  const metrics = new Metrics({ orm, cache, tokens, listener, poolMax: config.dbPoolMax });
  const proxies = new TrustedProxies(config.trustedProxies);
  app = createApp({
    orm,
    config: { ...config, publicUrl },
    logger,
    cache,
    store,
    presignKey,
    tokens,
    metrics,
    proxies,
  });
  const dispatcher = new WebhookDispatcher(orm, logger.child({ component: 'webhooks' }), config.webhooks);
  dispatcher.start();
  const purges = new PurgeScheduler(orm, logger.child({ component: 'purge' }), config.retention);
  purges.start();
  metrics.watchPurges(purges);
  const gc = new GcScheduler(orm, store, logger.child({ component: 'gc' }), config.gc);
  gc.start();
  metrics.watchGc(gc);
  logger.info({ url, ms: Math.round(performance.now() - started) }, 'gateway listening');
  // One process serving alone greets a person; cluster workers leave that to the primary.
  if (!cluster.isWorker) greet(config, url, db.source);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      redirect?.close();
      redirect?.closeAllConnections();
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      const timer = setTimeout(() => {
        logger.warn('shutdown timeout: closing remaining connections');
        if ('closeAllConnections' in server) server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      await drained;
      clearTimeout(timer);
      await dispatcher.stop();
      await purges.stop();
      await gc.stop();
      await listener.stop();
      await store.close();
      await orm.close();
      await db.stop();
      logger.info('gateway stopped');
    })();
    return closing;
  };
  const reloadTls = () => {
    if (!config.tls) {
      logger.warn('SIGHUP: nothing to reload (MUSEHUB_TLS_CERT is not set)');
      return false;
    }
    try {
      const next = readTlsMaterial(config.tls);
      (server as https.Server).setSecureContext({ cert: next.cert, key: next.key, minVersion: TLS_MIN_VERSION });
      logCertificate(logger, 'certificate reloaded', next);
      return true;
    } catch (err) {
      logger.error(
        { err: (err as Error).message },
        'certificate reload failed: still serving the previous certificate',
      );
      return false;
    }
  };
  return { url, port, orm, server, dispatcher, app, cache, tokens, listener, store, metrics, reloadTls, close };
}

function logCertificate(logger: Logger, msg: string, m: { notAfter: Date; fingerprint: string; subject: string }) {
  const days = daysLeft(m.notAfter);
  const fields = { subject: m.subject, notAfter: m.notAfter.toISOString(), fingerprint: m.fingerprint, daysLeft: days };
  if (days < EXPIRY_WARNING_DAYS) logger.warn(fields, `${msg}; it expires in ${days} days`);
  else logger.info(fields, msg);
}

/** 301 for GET and HEAD, 308 (method and body kept) for the rest, to the same path on `base`. */
function redirectTo(base: string): http.RequestListener {
  return (req, res) => {
    const status = req.method === 'GET' || req.method === 'HEAD' ? 301 : 308;
    const location = `${base}${req.url?.startsWith('/') ? req.url : '/'}`;
    res.writeHead(status, { location, 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end(`moved to ${location}\n`);
  };
}
