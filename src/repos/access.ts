import type { EntityManager } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';
import { BadRequestError, ForbiddenError, RepoMovedError, repoNotFound, UnauthorizedError } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import type { Permission, Repo } from './repo.entity.ts';
import { RepoSchema } from './repo.entity.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A repo id as the API takes it: anything else cannot name a repo and is the repo 404 without a query. */
export const isUuid = (s: string) => UUID.test(s);

export type Need = 'read' | 'comment' | Permission;

const RANK: Record<Permission, number> = { read: 1, write: 2, admin: 3 };

/**
 * What a caller may do with a live repo: the one access object every surface passes on. `repo` is
 * the entity for services that work through the ORM, or the liveness cache's entry on the
 * transport (resolveRepo), which answers without a query.
 */
export interface RepoAccess<U extends AuthUser | null = AuthUser | null, R extends RepoFacts = Repo> {
  repo: R;
  /** The caller's permission; null for anonymous callers and strangers to a public repo. */
  permission: Permission | null;
  /** The caller: signed in whenever `need` was more than read. */
  user: U;
}

/** Who an access is for: anyone may read, every need above read is a signed-in user's. */
export type CallerFor<N extends Need> = N extends 'read' ? AuthUser | null : AuthUser;

/** What every repo shape an access may carry knows. */
export interface RepoFacts {
  repoId: string;
  owner: string;
  slug: string;
  visibility: string;
}

/** The access `requireRepoAccess(…, need)` returns: its `user` typed by the need. */
export type AccessFor<N extends Need, R extends RepoFacts = Repo> = RepoAccess<CallerFor<N>, R>;

/**
 * An access checked again for a larger need, by the same rule: for a request whose need shows
 * only in its body (a presign that turns out to be an upload).
 */
export function requireNeed<N extends Need, R extends RepoFacts>(
  access: RepoAccess<AuthUser | null, R>,
  need: N,
  wording?: RefusalWording,
): AccessFor<N, R> {
  const user = checkAllowed(access.repo.visibility, access.permission, access.user, need, wording);
  return { ...access, user };
}

/** How a refusal reads to this kind of client (the muse client's users see the transport's). */
export interface RefusalWording {
  unauthorized?: string;
  forbidden?: string;
}

/**
 * The one rule of "allowed", given the repo's visibility and the caller's permission: a repo the
 * caller may not read is the one repo 404 (never 403); a reader who may not do `need` gets 401
 * when anonymous, else 403. `comment` means "signed in and able to read", as on public forges.
 */
export function checkAllowed<N extends Need>(
  visibility: string,
  permission: Permission | null,
  user: AuthUser | null,
  need: N,
  wording: RefusalWording = {},
): CallerFor<N> {
  if (visibility !== 'public' && permission === null) throw repoNotFound();
  // The one place the need decides the caller's type: past this line a need above read has a user.
  const wanted: Need = need;
  if (wanted === 'read') return user as CallerFor<N>;
  if (!user) throw new UnauthorizedError(wording.unauthorized);
  if (wanted === 'comment') return user;
  if (permission === null || RANK[permission] < RANK[wanted]) {
    throw new ForbiddenError(
      wording.forbidden ?? `you need ${wanted} permission on this repo`,
      'insufficient_permission',
    );
  }
  return user;
}

/**
 * The caller's permission on a repo: admin for its owner, a collaborator's row, else none. One
 * indexed lookup in plain SQL (it sits on the transport's push path too); no entity hydrated.
 */
export async function permissionOf(
  em: EntityManager,
  repo: { repoId: string; ownerUserId: string },
  user: AuthUser | null,
): Promise<Permission | null> {
  if (!user) return null;
  if (repo.ownerUserId === user.userId) return 'admin';
  const [row] = await runSql<{ permission: Permission }>(
    em,
    'SELECT permission FROM musehub_collaborators WHERE repo_id = ? AND user_id = ?',
    [repo.repoId, user.userId],
  );
  return row?.permission ?? null;
}

/** The caller's permission on a repo resolved through the liveness cache (which holds its collaborators). */
export function permissionIn(
  live: { ownerUserId: string; collaborators: Readonly<Record<string, Permission>> },
  user: AuthUser | null,
): Permission | null {
  if (!user) return null;
  if (live.ownerUserId === user.userId) return 'admin';
  return Object.hasOwn(live.collaborators, user.userId) ? live.collaborators[user.userId]! : null;
}

/**
 * A live repo's visibility and `userId`'s permission on it (admin for the owner), in one query;
 * null when the repo is not live. For callers that hold only a user id (a signed upload grant).
 */
export async function grantHolderAccess(
  em: EntityManager,
  repoId: string,
  userId: string,
): Promise<{ visibility: string; permission: Permission | null } | null> {
  // Raw SQL: the deleted_at condition the ORM filter would add is stated here.
  const [row] = await runSql<{ visibility: string; permission: Permission | null }>(
    em,
    `SELECT r.visibility, CASE WHEN r.owner_user_id = ? THEN 'admin' ELSE c.permission END AS permission
       FROM musehub_repos r
       LEFT JOIN musehub_collaborators c ON c.repo_id = r.repo_id AND c.user_id = ?
      WHERE r.repo_id = ? AND ${repoIsLive('r')}`,
    [userId, userId, repoId],
  );
  return row ?? null;
}

/**
 * Resolves a live repo and checks what the caller may do with it. Anyone who may not read
 * it gets the one repo 404; a reader who may not do more gets 401 (anonymous) or 403.
 * `comment` means "signed in and able to read", as on public forges.
 */
export async function requireRepoAccess<N extends Need>(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  need: N,
): Promise<AccessFor<N>> {
  if (!isUuid(repoId)) throw repoNotFound();
  return accessTo(em, 'r.repo_id = ?', [repoId], user, need);
}

/** What a client names a repo by: its id, or its owner and slug (MCP tools and resources, pages). */
export interface RepoRef {
  repo_id?: string | undefined;
  owner?: string | undefined;
  slug?: string | undefined;
}

/** requireRepoAccess for a repo named by id or by name, in one lookup either way. */
export async function requireRepoAccessTo<N extends Need>(
  em: EntityManager,
  user: AuthUser | null,
  ref: RepoRef,
  need: N,
): Promise<AccessFor<N>> {
  if (ref.repo_id) return requireRepoAccess(em, user, ref.repo_id, need);
  if (!ref.owner || !ref.slug) throw new BadRequestError('name the repo: repo_id, or owner and slug', 'bad_request');
  return accessTo(em, `r.repo_id = ${REPO_NAMED}`, [ref.owner, ref.slug, ref.owner, ref.slug], user, need);
}

/**
 * The id of the repo owner/slug names (four parameters: owner, slug, owner, slug): the live repo
 * with that name, else the repo a rename left the name behind for. Its `owner`/`slug` columns
 * then differ from the name asked for: surfaces that can redirect do (see RepoMovedError).
 */
const REPO_NAMED = `COALESCE(
  (SELECT l.repo_id FROM musehub_repos l WHERE l.owner = ? AND l.slug = ? AND ${repoIsLive('l')}),
  (SELECT n.repo_id FROM musehub_repo_renames n WHERE n.owner = ? AND n.slug = ?))`;

/**
 * For a read that can follow a redirect: throws RepoMovedError when `repo` was found under a
 * name it no longer has, with `location(current)` as the new URL.
 */
export function redirectIfRenamed(
  asked: { owner?: string | undefined; slug?: string | undefined },
  repo: { owner: string; slug: string },
  location: (current: { owner: string; slug: string }) => string,
): void {
  if (asked.owner === repo.owner && asked.slug === repo.slug) return;
  throw new RepoMovedError(location(repo), `${repo.owner}/${repo.slug}`);
}

/**
 * The repo and the caller's permission on it in one query that returns no row at all when the
 * caller may not read it (checkAllowed's first rule, in SQL): a private repo they may not read
 * costs exactly what a missing one costs — the same query, no row to send or hydrate — so the
 * time of the 404 does not tell them apart.
 */
async function accessTo<N extends Need>(
  em: EntityManager,
  where: string,
  params: string[],
  user: AuthUser | null,
  need: N,
): Promise<AccessFor<N>> {
  const userId = user?.userId ?? null;
  // Raw SQL: the live-repo filter the ORM would add is the deleted_at condition written out.
  const [row] = await runSql<Record<string, unknown> & { caller_permission: Permission | null }>(
    em,
    `SELECT r.*, CASE WHEN r.owner_user_id = ? THEN 'admin' ELSE c.permission END AS caller_permission
       FROM musehub_repos r
       LEFT JOIN musehub_collaborators c ON c.repo_id = r.repo_id AND c.user_id = ?
      WHERE ${where} AND ${repoIsLive('r')}
        AND (r.visibility = 'public' OR r.owner_user_id = ? OR c.permission IS NOT NULL)`,
    [userId, userId, ...params, userId],
  );
  if (!row) throw repoNotFound();
  const { caller_permission: permission, ...columns } = row;
  const caller = checkAllowed(columns.visibility as string, permission, user, need);
  return { repo: em.map(RepoSchema, columns as never), permission, user: caller };
}

/** The repo its owner acts on, live or deleted: what delete, restore and purge receive. */
export interface OwnerAccess {
  repo: { repoId: string; owner: string; slug: string; deleted: boolean };
  user: AuthUser;
}

/**
 * The `owner` need, for delete, restore and purge, which must find the caller's own repo deleted
 * or not. A name can belong to a live repo and to deleted ones: delete acts on the live one,
 * restore and purge on the most recently deleted. Anyone but the owner meets the live path's
 * answer: the one repo 404 (deleted, missing, or private and unreadable to them), or for a delete
 * of a live repo they can see, 403. Nobody else learns that a deleted repo exists.
 */
export async function requireOwnership(
  em: EntityManager,
  user: AuthUser | null,
  ref: RepoRef,
  action: 'delete' | 'restore' | 'purge',
): Promise<OwnerAccess> {
  if (!user) throw new UnauthorizedError();
  let where: string;
  let params: string[];
  if (ref.repo_id) [where, params] = isUuid(ref.repo_id) ? ['repo_id = ?', [ref.repo_id]] : ['false', []];
  else if (ref.owner && ref.slug) {
    // The name, or (for an owner who renamed the repo) a name the repo had before.
    [where, params] = [
      '(owner = ? AND slug = ? OR repo_id = (SELECT n.repo_id FROM musehub_repo_renames n WHERE n.owner = ? AND n.slug = ?))',
      [ref.owner, ref.slug, ref.owner, ref.slug],
    ];
  } else throw new BadRequestError('name the repo: repo_id, or owner and slug', 'bad_request');
  // Raw SQL with the tombstone condition spelled out: the live filter would hide a deleted repo.
  const [row] = await runSql<{ repo_id: string; owner: string; slug: string; deleted: boolean }>(
    em,
    `SELECT repo_id, owner, slug, deleted_at IS NOT NULL AS deleted FROM musehub_repos
      WHERE ${where} AND owner_user_id = ?
      ORDER BY (owner = ? AND slug = ?) DESC, (deleted_at IS NULL) = ? DESC, deleted_at DESC NULLS FIRST LIMIT 1`,
    [...params, user.userId, ref.owner ?? '', ref.slug ?? '', action === 'delete'],
  );
  if (row) return { repo: { repoId: row.repo_id, owner: row.owner, slug: row.slug, deleted: row.deleted }, user };
  if (action !== 'delete') throw repoNotFound();
  // Decided as every read is: the never-existed 404, or a live repo they can see and may not delete.
  await requireRepoAccessTo(em, user, ref, 'read');
  throw new ForbiddenError('only the owner may delete this repo', 'insufficient_permission');
}

export const hasPermission = (have: Permission | null, need: Permission) => have !== null && RANK[have] >= RANK[need];
