import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.ts';
import type { Logger } from '../logger.ts';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id (honouring a sane incoming X-Request-Id), a child logger and one access-log line per request. */
export function requestContext(logger: Logger): MiddlewareHandler<AppEnv> {
  return async function requestContextMiddleware(c, next) {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('log', logger);
    // On the node server, straight on its ServerResponse: writeHead merges it into whatever the
    // handler answers, and Hono never builds a Headers object for it (c.header cost refs a
    // third of its throughput). In-process (app.request) there is no ServerResponse.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing?.setHeader) outgoing.setHeader('X-Request-Id', requestId);
    else c.header('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      // A level check first and no per-request child logger: refs is cheap enough that
      // building either showed up in its profile.
      if (logger.isLevelEnabled('info')) {
        logger.info(
          {
            requestId,
            method: c.req.method,
            path: c.req.path,
            status: c.res.status,
            ms: Math.round(performance.now() - started),
          },
          'request',
        );
      }
    }
  };
}

/** One EntityManager fork per request, so the identity map never carries state across requests. */
export function dbContext(orm: MikroORM): MiddlewareHandler<AppEnv> {
  return async function dbContextMiddleware(c, next) {
    c.set('em', orm.em.fork());
    await next();
  };
}
