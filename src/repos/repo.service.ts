import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import { findUserByName } from '../users/index.ts';
import { requireRepoAccess, requireRepoAccessTo } from './access.ts';
import { checkBranchName, slugFromName } from './names.ts';
import { CollaboratorSchema, type Repo, RepoSchema, type Visibility } from './repo.entity.ts';
import { claimName } from './settings.service.ts';

export interface CreateRepoInput {
  name: string;
  description?: string | undefined;
  visibility?: Visibility | undefined;
  defaultBranch?: string | undefined;
}

export async function createRepo(em: EntityManager, actor: AuthUser, input: CreateRepoInput): Promise<Repo> {
  const slug = slugFromName(input.name);
  const defaultBranch = input.defaultBranch ?? 'main';
  checkBranchName(defaultBranch, 'defaultBranch');
  // The unique constraint is the real guard (a racing create maps to 409 too); this gives the clear message.
  if (await em.count(RepoSchema, { owner: actor.username, slug })) {
    throw new ConflictError(`you already have a repo named '${slug}'`, 'repo_exists');
  }
  const repo = em.create(RepoSchema, {
    repoId: randomUUID(),
    owner: actor.username,
    ownerUserId: actor.userId,
    slug,
    name: input.name.trim(),
    description: input.description ?? '',
    visibility: input.visibility ?? 'private',
    defaultBranch,
    forkParentId: null,
  });
  await em.flush();
  await claimName(em, repo.owner, repo.slug);
  return repo;
}

/** A live repo the caller may read, or the one repo 404 (missing, deleted and private look the same). */
export async function getReadableRepo(em: EntityManager, user: AuthUser | null, repoId: string): Promise<Repo> {
  return (await requireRepoAccess(em, user, repoId, 'read')).repo;
}

export async function getReadableRepoByName(
  em: EntityManager,
  user: AuthUser | null,
  owner: string,
  slug: string,
): Promise<Repo> {
  return (await requireRepoAccessTo(em, user, { owner, slug }, 'read')).repo;
}

// Newest first; repo_id breaks ties so the order is total and the cursor exact.
const ORDER = { createdAt: 'desc', repoId: 'desc' } as const;
const pageOfRepos = (em: EntityManager, where: object, page: PageRequest) =>
  findPage(em, RepoSchema, where, ORDER, page);

/** Repos the user owns or collaborates on. */
export async function listReposForUser(em: EntityManager, user: AuthUser, page: PageRequest): Promise<Page<Repo>> {
  const collaborated = await em.find(CollaboratorSchema, { userId: user.userId }, { fields: ['repoId'] });
  return pageOfRepos(
    em,
    { $or: [{ ownerUserId: user.userId }, { repoId: { $in: collaborated.map((c) => c.repoId) } }] },
    page,
  );
}

/** The where-fragments (OR-ed) for repos a caller may read: public ones, their own, and collaborated. */
export async function readableBy(em: EntityManager, user: AuthUser | null): Promise<object[]> {
  const visible: object[] = [{ visibility: 'public' }];
  if (!user) return visible;
  const collaborated = await em.find(CollaboratorSchema, { userId: user.userId }, { fields: ['repoId'] });
  visible.push({ ownerUserId: user.userId }, { repoId: { $in: collaborated.map((c) => c.repoId) } });
  return visible;
}

/** Repos the caller may read whose name, slug or description contains `query`; newest first. */
export async function searchRepos(
  em: EntityManager,
  user: AuthUser | null,
  filter: { query?: string | undefined; owner?: string | undefined; limit: number },
): Promise<Repo[]> {
  const like = filter.query ? `%${filter.query.replace(/[\\%_]/g, (m) => `\\${m}`)}%` : undefined;
  const where = {
    $and: [
      { $or: await readableBy(em, user) },
      filter.owner ? { owner: filter.owner } : {},
      like ? { $or: [{ name: { $ilike: like } }, { slug: { $ilike: like } }, { description: { $ilike: like } }] } : {},
    ],
  };
  return em.find(RepoSchema, where, { orderBy: { createdAt: 'desc', repoId: 'desc' }, limit: filter.limit });
}

/** A user's repos as the viewer may see them: public ones, plus private ones the viewer can read. */
export async function listReposOwnedBy(
  em: EntityManager,
  viewer: AuthUser | null,
  username: string,
  page: PageRequest,
): Promise<Page<Repo>> {
  const owner = await findUserByName(em, username);
  if (!owner) throw new NotFoundError(`user '${username}' not found`, 'user_not_found');
  return pageOfRepos(em, { ownerUserId: owner.userId, $or: await readableBy(em, viewer) }, page);
}

/** Which of these repo ids are live (one query; the default filter hides tombstones). */
/** The visibility of each of these repos that is live (deleted and missing ones are absent). */
export async function liveVisibilities(em: EntityManager, ids: string[]): Promise<Map<string, Visibility>> {
  if (!ids.length) return new Map();
  const rows = await em.find(RepoSchema, { repoId: { $in: [...new Set(ids)] } }, { fields: ['repoId', 'visibility'] });
  return new Map(rows.map((r) => [r.repoId, r.visibility]));
}
