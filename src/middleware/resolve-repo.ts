import type { MikroORM } from '@mikro-orm/postgresql';
import type { MiddlewareHandler } from 'hono';
import type { RepoEnv } from '../app-env.ts';
import { ForbiddenError, repoNotFound, UnauthorizedError } from '../errors.ts';
import type { Permission, RepoLivenessCache } from '../repos/index.ts';
import { validateUsername } from '../users/index.ts';

const SLUG = /^[a-z0-9._-]{1,100}$/;
const isOwnerName = (s: string) => {
  try {
    validateUsername(s);
    return true;
  } catch {
    return false;
  }
};

/**
 * /:owner/:slug → c.var.repo, a live repo the caller may use as `need` says. Missing,
 * deleted and private-to-the-caller are one 404 with the same bytes. For writes, a caller
 * who may read but not write gets 403, an anonymous one 401.
 */
export function resolveRepo(
  cache: RepoLivenessCache,
  orm: MikroORM,
  need: 'read' | 'write',
): MiddlewareHandler<RepoEnv> {
  return async function resolveRepoMiddleware(c, next) {
    const owner = c.req.param('owner') ?? '';
    const slug = c.req.param('slug') ?? '';
    // Names that cannot exist never reach the cache or the database.
    const live = isOwnerName(owner) && SLUG.test(slug) ? await cache.resolve(owner, slug) : null;
    if (!live) throw repoNotFound();
    const user = c.get('user'); // c.get, not c.var: c.var copies every variable into a new object
    let permission: Permission | null = null;
    if (user && user.userId === live.ownerUserId) permission = 'admin';
    else if (user && (live.visibility === 'private' || need === 'write')) {
      const rows = await orm.em
        .getConnection()
        .execute<{ permission: Permission }[]>(
          'SELECT permission FROM musehub_collaborators WHERE repo_id = ? AND user_id = ?',
          [live.repoId, user.userId],
        );
      permission = rows[0]?.permission ?? null;
    }
    if (live.visibility === 'private' && permission === null) throw repoNotFound();
    if (need === 'write') {
      if (!user) throw new UnauthorizedError('pushing needs a token: run `muse auth login`');
      if (permission !== 'write' && permission !== 'admin') {
        throw new ForbiddenError('you may read this repo but not push to it', 'insufficient_permission');
      }
    }
    c.set('repo', { ...live, permission });
    await next();
  };
}
