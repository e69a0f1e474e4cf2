import type { MiddlewareHandler } from 'hono';
import type { RestEnv } from '../app-env.ts';
import { type Need, type RepoAccess, requireRepoAccess } from '../repos/index.ts';
import type { AuthUser } from '../users/index.ts';

/** REST routes under /repos/{repo_id}/…: what the caller may do with the live repo, resolved once. */
export interface AccessEnv<U extends AuthUser | null> {
  Variables: RestEnv['Variables'] & { access: RepoAccess<U> };
}

/**
 * Resolves `{repo_id}` and checks the caller may do `need` there before anything else runs
 * (the body is validated after it): a repo the caller may not read is the one repo 404 whatever
 * was sent; a reader who may not do more gets 401 (anonymous) or 403. Services receive the
 * result (`c.var.access`) and never check again.
 */
export function repoAccess(need: 'read'): MiddlewareHandler<AccessEnv<AuthUser | null>>;
export function repoAccess(need: Exclude<Need, 'read'>): MiddlewareHandler<AccessEnv<AuthUser>>;
export function repoAccess(
  need: Need,
): MiddlewareHandler<AccessEnv<AuthUser | null>> | MiddlewareHandler<AccessEnv<AuthUser>> {
  const middleware: MiddlewareHandler<AccessEnv<AuthUser | null>> = async (c, next) => {
    const repoId = c.req.param('repo_id') ?? '';
    // requireRepoAccess narrows the user by the literal need; here `need` is the union, and the
    // overloads above say what each caller gets.
    c.set('access', await requireRepoAccess(c.var.em, c.var.user, repoId, need));
    await next();
  };
  return middleware;
}
