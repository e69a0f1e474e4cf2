import type { MiddlewareHandler } from 'hono';
import type { AuthEnv } from '../app-env.ts';
import { UnauthorizedError } from '../errors.ts';
import type { TokenCache } from '../users/index.ts';

/**
 * `Authorization: Bearer <token>` → c.var.user. No header means anonymous; a header that is
 * present but malformed, unknown or revoked is 401 on every route, public reads included.
 */
export function auth(tokens: TokenCache): MiddlewareHandler<AuthEnv> {
  return async function authMiddleware(c, next) {
    const header = c.req.header('authorization');
    if (header === undefined) {
      c.set('user', null);
      return next();
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new UnauthorizedError('expected Authorization: Bearer <token>', 'invalid_token');
    const user = tokens.authenticate(match[1]!);
    c.set('user', user instanceof Promise ? await user : user);
    return next();
  };
}

/** For routes that need a signed-in user. */
export function requireUser(user: AuthEnv['Variables']['user']) {
  if (!user) throw new UnauthorizedError();
  return user;
}
