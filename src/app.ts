import type { MikroORM } from '@mikro-orm/postgresql';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AuthEnv, BaseEnv } from './app-env.ts';
import { runSql } from './db/sql.ts';
import type { OpenApiDocument } from './docs/openapi-types.ts';
import { docsRoutes } from './docs/routes.tsx';
import { PayloadTooLargeError } from './errors.ts';
import { enqueueEvent } from './hub/events.ts';
import { issueRoutes } from './hub/issue.routes.ts';
import { proposalRoutes } from './hub/proposal.routes.ts';
import { buildSitemap } from './hub/sitemap.ts';
import { webhookRoutes } from './hub/webhook.routes.ts';
import type { Logger } from './logger.ts';
import { mcpRoutes } from './mcp/routes.ts';
import type { Metrics } from './metrics.ts';
import { auth } from './middleware/auth.ts';
import { strictUtf8Json } from './middleware/body-guards.ts';
import { handleError, handleNotFound } from './middleware/errors.ts';
import { Semaphore } from './middleware/limits.ts';
import { operatorOnly } from './middleware/operator-only.ts';
import { dbContext, requestContext } from './middleware/request-context.ts';
import type { TrustedProxies } from './net/trusted-proxies.ts';
import { WebhookTargetPolicy } from './net/webhook-target.ts';
import { createRouter } from './openapi.ts';
import { repoMemberRoutes } from './repos/collaborator.routes.ts';
import type { RepoLivenessCache } from './repos/index.ts';
import { repoRoutes } from './repos/repo.routes.ts';
import type { ObjectStore } from './storage/object-store.ts';
import { type TransportDeps, transportRoutes } from './transport/routes.ts';
import { WireFirstRouter } from './transport/wire-first-router.ts';
import type { TokenCache } from './users/index.ts';
import { pageRoutes } from './web/pages.routes.tsx';
import { sessionForDownloads, webCookies } from './web/session.middleware.ts';

export interface AppDeps {
  orm: MikroORM;
  config: {
    publicUrl: string;
    transport: TransportDeps['limits'];
    webhooks: { allowedHosts: readonly string[] };
    metricsToken?: string | undefined;
    /** 0 (or absent): deleted repos are kept forever. */
    retention?: { deletedRepoDays: number };
  };
  logger: Logger;
  cache: RepoLivenessCache;
  store: ObjectStore;
  presignKey: Buffer;
  tokens: TokenCache;
  metrics: Metrics;
  /** Whose X-Forwarded-* headers to believe (none by default). */
  proxies: TrustedProxies;
}

const REST_BODY_LIMIT = 1024 * 1024;

/** Builds the Hono app: middleware order is request context (ids, logs, metrics, encodings) → limits → db context → auth → routes. */
export function createApp({ orm, config, logger, cache, store, presignKey, tokens, metrics, proxies }: AppDeps) {
  // The wire's routes on a compiled table of their own: a refs request never walks the rest.
  const app = new Hono<BaseEnv>({ router: new WireFirstRouter() });
  app.onError(handleError);
  app.notFound(handleNotFound);
  app.use(requestContext(logger, metrics, proxies, config.publicUrl.startsWith('https://')));

  // Under --workers, whichever worker takes the scrape answers for all of them. Operators only:
  // cache hits and misses would tell a stranger which private repos exist.
  app.get('/metrics', operatorOnly(config.metricsToken), async (c) =>
    c.body(await metrics.render(), 200, { 'content-type': metrics.registry.contentType }),
  );

  app.get('/health', async (c) => {
    try {
      await runSql(orm.em, 'SELECT 1');
      // pid: which process answered (several share the port under --workers).
      return c.json({ status: 'ok', database: 'ok', pid: process.pid });
    } catch {
      c.header('Retry-After', '5');
      return c.json(
        { status: 'unavailable', database: 'unreachable', detail: 'the database is unreachable', code: 'unavailable' },
        503,
      );
    }
  });

  const api = createRouter();
  api.use(
    bodyLimit({
      maxSize: REST_BODY_LIMIT,
      onError: () => {
        throw new PayloadTooLargeError(`request body is larger than ${REST_BODY_LIMIT} bytes`);
      },
    }),
  );
  api.use(strictUtf8Json());
  api.use(dbContext(orm));
  api.use(auth(tokens));
  api.route('/', repoRoutes(config.publicUrl, cache, metrics, config.retention?.deletedRepoDays ?? 0));
  api.route('/', repoMemberRoutes(config.publicUrl, cache));
  api.route('/', issueRoutes(config.publicUrl));
  api.route('/', proposalRoutes(config.publicUrl));
  api.route('/', webhookRoutes(new WebhookTargetPolicy(config.webhooks.allowedHosts)));
  app.route('/api/v1', api);

  const openApiDocument = () =>
    api.getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 'MuseHub Gateway', version: '0.1.0', description: 'The hub API around muse repositories.' },
      servers: [{ url: `${config.publicUrl}/api/v1` }],
    });
  app.get('/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/sitemap.xml', async (c) => {
    const xml = await buildSitemap(orm.em.fork(), config.publicUrl);
    return c.body(xml, 200, {
      'content-type': 'application/xml; charset=utf-8',
      'cache-control': 'public, max-age=60',
    });
  });
  // The generator's type allows a $ref wherever OpenAPI does; the page reads the subset it renders.
  app.route('/', docsRoutes(openApiDocument as () => OpenApiDocument));

  // MCP for agents (Streamable HTTP): the same tokens, services and access rule as REST.
  const mcpCalls = new Semaphore(config.transport.mcpMaxConcurrentCalls);
  metrics.watchMcpCalls(mcpCalls);
  const mcp = new Hono<AuthEnv>();
  mcp.use('/mcp', auth(tokens));
  mcp.route(
    '/',
    mcpRoutes({
      orm,
      store,
      cache,
      publicUrl: config.publicUrl,
      log: logger.child({ component: 'mcp' }),
      key: presignKey,
      rateLimitPerMinute: config.transport.rateLimitPerMinute,
      callSlots: mcpCalls,
    }),
  );
  app.route('/', mcp);

  // The muse wire protocol: /{owner}/{slug}/refs|fetch|push…, /presigned/…, /o/{id}.
  // No per-request EntityManager fork here: refs is served from cache, and the handlers that
  // touch the database fork their own.
  const cookies = webCookies(config.publicUrl);
  const transport = new Hono<AuthEnv>();
  transport.use(auth(tokens));
  transport.use('/o/:object_id', sessionForDownloads(orm, cookies));
  transport.route(
    '/',
    transportRoutes({
      orm,
      cache,
      store,
      presignKey,
      publicUrl: config.publicUrl,
      limits: config.transport,
      onPushed: (tx, event) => enqueueEvent(tx, event.repo.repoId, 'push', { ...event }),
    }),
  );
  app.route('/', transport);

  // Pages for people, after the transport: /{owner}/{slug}/refs and friends match first, and a
  // GET of /{owner}/{slug} (what a browser opens) is a page.
  app.route(
    '/',
    pageRoutes({
      orm,
      cache,
      tokens,
      publicUrl: config.publicUrl,
      cookies,
      key: presignKey,
      retentionDays: config.retention?.deletedRepoDays ?? 0,
    }),
  );
  return app;
}
