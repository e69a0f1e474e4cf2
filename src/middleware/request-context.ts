import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { BaseEnv, RestEnv } from '../app-env.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { TrustedProxies } from '../net/trusted-proxies.ts';
import { encodedBodyRefusal } from './body-guards.ts';
import { handleError } from './errors.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/**
 * 180 days; sent when the public URL is https (a proxy in front terminates TLS), or when this
 * request reached us over HTTPS (natively, or as a trusted proxy says). Over plain http it
 * would be ignored anyway (RFC 6797 §8.1), so a forged X-Forwarded-Proto gains nothing.
 */
const HSTS = 'max-age=15552000';

/**
 * The outermost middleware: request id (honouring a sane incoming X-Request-Id), the logger,
 * one access-log line and one latency observation (labelled by route pattern) per request,
 * and the refusal of compressed bodies. One middleware rather than three: on refs, each
 * async layer cost a few per cent.
 */
export function requestContext(
  logger: Logger,
  metrics: Metrics,
  proxies: TrustedProxies,
  /** The hub's public URL is https: every answer carries HSTS, whatever the hop in front did. */
  httpsPublicUrl: boolean,
): MiddlewareHandler<BaseEnv> {
  return async function requestContextMiddleware(c, next) {
    const incomingId = c.req.header('x-request-id');
    const requestId = incomingId && SAFE_REQUEST_ID.test(incomingId) ? incomingId : randomUUID();
    c.set('requestId', requestId);
    c.set('log', logger);
    const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
    const socket = env?.incoming?.socket as TLSSocket | undefined;
    const client = proxies.clientOf(socket?.remoteAddress, socket?.encrypted === true, (name) => c.req.header(name));
    c.set('client', client);
    // On the node server, straight on its ServerResponse: writeHead merges it into whatever the
    // handler answers, and Hono never builds a Headers object for it (c.header cost refs a
    // third of its throughput). In-process (app.request) there is no ServerResponse.
    const outgoing = env?.outgoing;
    const hsts = httpsPublicUrl || client.proto === 'https';
    if (outgoing?.setHeader) {
      outgoing.setHeader('X-Request-Id', requestId);
      // The default for every answer (one about a private repo must not sit in a shared cache);
      // a route whose answer may be cached (/o/ of a public repo, the sitemap) sets its own.
      outgoing.setHeader('Cache-Control', 'no-store');
      if (hsts) outgoing.setHeader('Strict-Transport-Security', HSTS);
    } else {
      c.header('X-Request-Id', requestId);
      if (hsts) c.header('Strict-Transport-Security', HSTS);
    }
    const started = performance.now();
    try {
      // Answered here rather than thrown, so that the log line and the metric see the 415.
      const refusal = encodedBodyRefusal(c.req.header('content-encoding'));
      if (refusal) c.res = await handleError(refusal, c);
      else await next();
    } finally {
      const ms = performance.now() - started;
      metrics.observeRequest(c.req.method, routeLabel(c), c.res.status, ms / 1000);
      // A level check first and no per-request child logger: refs is cheap enough that
      // building either showed up in its profile.
      if (logger.isLevelEnabled('info')) {
        logger.info(
          {
            requestId,
            clientIp: client.ip,
            method: c.req.method,
            path: c.req.path,
            status: c.res.status,
            ms: Math.round(ms),
          },
          'request',
        );
      }
    }
  };
}

/**
 * The pattern of the route that answered (`/:owner/:slug/refs`), or that would have when a
 * middleware answered first (a 404, a 415); `unmatched` when only middleware matched.
 */
function routeLabel(c: Context<BaseEnv>): string {
  // Handlers are registered for a method; middleware (and catch-all fallbacks) for ALL. The
  // request ended at routeIndex: a handler there answered it; a middleware there answered
  // for the first handler after it.
  const routes = matchedRoutes(c);
  for (let i = c.req.routeIndex; i < routes.length; i++) if (routes[i]!.method !== 'ALL') return routes[i]!.path;
  return 'unmatched';
}

/** One EntityManager fork per request, so the identity map never carries state across requests. */
export function dbContext(orm: MikroORM): MiddlewareHandler<RestEnv> {
  return async function dbContextMiddleware(c, next) {
    c.set('em', orm.em.fork());
    await next();
  };
}
