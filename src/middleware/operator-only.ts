import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { BaseEnv } from '../app-env.ts';
import { UnauthorizedError } from '../errors.ts';
import { ADDRESS_CLASSES, blockListOf, inList } from '../net/address-ranges.ts';
import { handleNotFound } from './errors.ts';

const loopback = blockListOf(ADDRESS_CLASSES.loopback);

/**
 * For what only operators may read (/metrics): with a token, the token (Bearer, compared in
 * constant time) from anywhere; without one, only a client on this machine — the client as
 * c.var.client has it, so behind a trusted proxy on the same host an outside caller is still
 * outside. Anyone else gets the answer for a route that does not exist.
 */
export function operatorOnly(token: string | undefined): MiddlewareHandler<BaseEnv> {
  const expected = token ? Buffer.from(token) : undefined;
  return async function operatorOnlyMiddleware(c, next) {
    if (expected) {
      const given = Buffer.from(/^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new UnauthorizedError('this needs MUSEHUB_METRICS_TOKEN as a bearer token');
      }
      return next();
    }
    if (inList(loopback, c.var.client.ip)) return next();
    return handleNotFound(c);
  };
}
