import type { MiddlewareHandler } from 'hono';
import type { RepoEnv } from '../app-env.ts';
import { repoNotFound } from '../errors.ts';
import { checkAllowed, permissionIn, type RefusalWording, type RepoLivenessCache } from '../repos/index.ts';
import { isUsername } from '../users/index.ts';

const SLUG = /^[a-z0-9._-]{1,100}$/;
/** What the muse client's user reads when a push is refused. */
export const TRANSPORT_WORDING: RefusalWording = {
  unauthorized: 'pushing needs a token: run `muse auth login`',
  forbidden: 'you may read this repo but not push to it',
};

/**
 * /:owner/:slug → c.var.access, a live repo the caller may use as `need` says. Missing,
 * deleted and private-to-the-caller are one 404 with the same bytes. For writes, a caller
 * who may read but not write gets 403, an anonymous one 401.
 */
export function resolveRepo<N extends 'read' | 'write'>(
  cache: RepoLivenessCache,
  need: N,
): MiddlewareHandler<RepoEnv<N>> {
  return async function resolveRepoMiddleware(c, next) {
    const owner = c.req.param('owner') ?? '';
    const slug = c.req.param('slug') ?? '';
    // Names that cannot exist never reach the cache or the database.
    const live = isUsername(owner) && SLUG.test(slug) ? await cache.resolve(owner, slug) : null;
    if (!live) throw repoNotFound();
    // c.get, not c.var: c.var copies every variable into a new object. The permission comes with
    // the cached repo: refusing a stranger runs no query a missing repo would not.
    const permission = permissionIn(live, c.get('user'));
    const user = checkAllowed(live.visibility, permission, c.get('user'), need, TRANSPORT_WORDING);
    c.set('access', { repo: live, permission, user });
    await next();
  };
}
