import type { EntityManager } from '@mikro-orm/postgresql';
import { ForbiddenError, repoNotFound, UnauthorizedError } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import type { LiveRepo } from './liveness-cache.ts';
import type { Permission, Repo } from './repo.entity.ts';
import { RepoSchema } from './repo.entity.ts';
import { isUuid, permissionOf } from './repo.service.ts';

export type Need = 'read' | 'comment' | Permission;

const RANK: Record<Permission, number> = { read: 1, write: 2, admin: 3 };

export interface RepoAccess<U extends AuthUser | null = AuthUser | null> {
  repo: Repo;
  /** The caller's permission; null for anonymous callers and strangers to a public repo. */
  permission: Permission | null;
  /** The caller: signed in whenever `need` was more than read. */
  user: U;
}

/**
 * Resolves a live repo and checks what the caller may do with it. Anyone who may not read
 * it gets the one repo 404; a reader who may not do more gets 401 (anonymous) or 403.
 * `comment` means "signed in and able to read", as on public forges.
 */
export async function requireRepoAccess(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  need: 'read',
): Promise<RepoAccess>;
export async function requireRepoAccess(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  need: Exclude<Need, 'read'>,
): Promise<RepoAccess<AuthUser>>;
export async function requireRepoAccess(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  need: Need,
): Promise<RepoAccess> {
  const repo = isUuid(repoId) ? await em.findOne(RepoSchema, { repoId }) : null;
  if (!repo) throw repoNotFound();
  const permission = await permissionOf(em, repo, user);
  if (repo.visibility !== 'public' && permission === null) throw repoNotFound();
  if (need === 'read') return { repo, permission, user };
  if (!user) throw new UnauthorizedError();
  if (need === 'comment') return { repo, permission, user };
  if (permission === null || RANK[permission] < RANK[need]) {
    throw new ForbiddenError(`you need ${need} permission on this repo`, 'insufficient_permission');
  }
  return { repo, permission, user };
}

/** A live repo resolved by name for a transport request, with what the caller may do there. */
export interface ResolvedRepo extends LiveRepo {
  /** The caller's permission; null for anonymous callers and strangers to a public repo. */
  permission: Permission | null;
}

export const hasPermission = (have: Permission | null, need: Permission) => have !== null && RANK[have] >= RANK[need];
