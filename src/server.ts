import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { migrateUp, openOrm, provideDatabase } from './db/database.ts';
import { LivenessListener } from './db/liveness-listener.ts';
import { WebhookDispatcher } from './hub/webhook.dispatcher.ts';
import type { Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { RepoLivenessCache } from './repos/index.ts';
import { liveRefs } from './repos/live-repo.ts';
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
  /** Stops accepting, lets in-flight requests finish (bounded), then closes the ORM and the embedded database. */
  close(): Promise<void>;
}

/** config → database (embedded or DATABASE_URL) → migrate → serve. */
export async function startGateway(
  config: Config,
  logger: Logger,
  opts: { migrate?: boolean } = {},
): Promise<RunningGateway> {
  const started = performance.now();
  const db = await provideDatabase(config, (line) => logger.debug({ postgres: line }));
  logger.info({ database: db.source, ms: Math.round(performance.now() - started) }, 'database ready');
  let orm: MikroORM | undefined;
  try {
    orm = await openOrm(db.url, config.dbPoolMax, undefined, config.dbStatementTimeoutMs);
    // Cluster workers skip this: the primary migrated before forking them.
    const applied = opts.migrate === false ? [] : await migrateUp(orm);
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
  const server = createAdaptorServer({
    fetch: (req, env) => app!.fetch(req, env),
    serverOptions: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      // How often Node checks those timeouts (its default, 30 s, would let a slow client
      // hold a socket well past a short timeout).
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(config.requestTimeoutMs / 4))),
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', async (err) => {
      await orm.close();
      await db.stop();
      reject(err);
    });
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;
  const publicUrl = config.publicUrl ?? url;
  const metrics = new Metrics({ orm, cache, tokens, listener, poolMax: config.dbPoolMax });
  app = createApp({ orm, config: { ...config, publicUrl }, logger, cache, store, presignKey, tokens, metrics });
  const dispatcher = new WebhookDispatcher(orm, logger.child({ component: 'webhooks' }), config.webhooks);
  dispatcher.start();
  logger.info({ url, ms: Math.round(performance.now() - started) }, 'gateway listening');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      const timer = setTimeout(() => {
        logger.warn('shutdown timeout: closing remaining connections');
        if ('closeAllConnections' in server) server.closeAllConnections();
      }, config.shutdownTimeoutMs);
      await drained;
      clearTimeout(timer);
      await dispatcher.stop();
      await listener.stop();
      await store.close();
      await orm.close();
      await db.stop();
      logger.info('gateway stopped');
    })();
    return closing;
  };
  return { url, port, orm, server, dispatcher, app, cache, tokens, listener, store, metrics, close };
}
