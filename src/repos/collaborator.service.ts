import type { EntityManager } from '@mikro-orm/postgresql';
import { BadRequestError, ForbiddenError, NotFoundError, UnauthorizedError } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import { findUserByName, usernamesById } from '../users/index.ts';
import type { RepoAccess } from './access.ts';
import { deleteForksOfLostAccess, forgetRepos } from './delete.service.ts';
import { inLiveRepo, notifyLiveness } from './live-repo.ts';
import type { RepoLivenessCache } from './liveness-cache.ts';
import { CollaboratorSchema, type Permission } from './repo.entity.ts';

export interface CollaboratorView {
  username: string;
  userId: string;
  permission: Permission;
  createdAt: Date;
}

async function targetUser(em: EntityManager, username: string) {
  const target = await findUserByName(em, username);
  if (!target) throw new NotFoundError(`user '${username}' not found`, 'user_not_found');
  return target;
}

/**
 * Adds a collaborator or changes their permission (owner or admin). Every process caches a repo
 * with its collaborators (the transport decides from that copy), so a change is announced inside
 * its transaction (each process forgets the repo when it commits) and forgotten here at once.
 */
export async function putCollaborator(
  em: EntityManager,
  cache: RepoLivenessCache,
  access: RepoAccess<AuthUser>,
  username: string,
  permission: Permission,
): Promise<{ collaborator: CollaboratorView; created: boolean }> {
  const { repo } = access;
  const repoId = repo.repoId;
  const target = await targetUser(em, username);
  if (target.userId === repo.ownerUserId) {
    throw new BadRequestError('the owner already has every permission', 'owner_is_not_a_collaborator');
  }
  const { row, existing } = await inLiveRepo(em, repoId, async (tx) => {
    const existing = await tx.findOne(CollaboratorSchema, { repoId, userId: target.userId });
    // An upsert, so two requests adding the same person at once both succeed (a plain insert
    // made the second a unique-violation 409).
    const row = await tx.upsert(
      CollaboratorSchema,
      { repoId, userId: target.userId, permission },
      { onConflictFields: ['repoId', 'userId'], onConflictAction: 'merge', onConflictMergeFields: ['permission'] },
    );
    await notifyLiveness(tx, 'update', access.repo);
    return { row, existing };
  });
  cache.evictRepo(repoId);
  return {
    collaborator: { username: target.username, userId: target.userId, permission, createdAt: row.createdAt },
    created: !existing,
  };
}

export async function removeCollaborator(
  em: EntityManager,
  cache: RepoLivenessCache,
  access: RepoAccess<AuthUser>,
  username: string,
) {
  const repoId = access.repo.repoId;
  const target = await targetUser(em, username);
  const { removed, forksDeleted } = await inLiveRepo(em, repoId, async (tx) => {
    const removed = await tx.nativeDelete(CollaboratorSchema, { repoId, userId: target.userId });
    if (!removed) return { removed, forksDeleted: [] };
    await notifyLiveness(tx, 'update', access.repo);
    // Their private forks of a private repo go with their access, as on GitHub.
    return { removed, forksDeleted: await deleteForksOfLostAccess(tx, access.repo, target.userId, access.user) };
  });
  cache.evictRepo(repoId);
  forgetRepos(cache, forksDeleted);
  if (!removed) throw new NotFoundError(`'${username}' is not a collaborator`, 'collaborator_not_found');
}

/** Visible to the owner and collaborators, as on GitHub; not to every reader of a public repo. */
export async function listCollaborators(em: EntityManager, access: RepoAccess): Promise<CollaboratorView[]> {
  const repoId = access.repo.repoId;
  const { permission } = access;
  if (!access.user) throw new UnauthorizedError();
  if (permission === null)
    throw new ForbiddenError('only collaborators may list collaborators', 'insufficient_permission');
  const rows = await em.find(CollaboratorSchema, { repoId }, { orderBy: { createdAt: 'asc', userId: 'asc' } });
  const names = await usernamesById(
    em,
    rows.map((r) => r.userId),
  );
  return rows.map((r) => ({
    username: names.get(r.userId) ?? '',
    userId: r.userId,
    permission: r.permission,
    createdAt: r.createdAt,
  }));
}
