import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql, runSqlCount } from '../db/sql.ts';
import { ConflictError, NotFoundError, repoNotFound } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import { type OwnerAccess, requireRepoAccess } from './access.ts';
import { lockRepoExclusive, notifyLiveness } from './live-repo.ts';
import type { RepoLivenessCache } from './liveness-cache.ts';
import { type Repo, RepoSchema } from './repo.entity.ts';
import { claimName } from './settings.service.ts';

/**
 * What one delete tombstones, each statement limited to rows not tombstoned already and
 * stamping the delete's deletion_id. Explicit UPDATEs, never ORM cascades; nothing is
 * hard-deleted. docs/soft-delete.md lists every table and why it is (or is not) here.
 */
const CASCADE = [
  ['issues', `UPDATE musehub_issues SET deleted_at = ?, deletion_id = ? WHERE repo_id = ? AND deleted_at IS NULL`],
  [
    'issueComments',
    `UPDATE musehub_issue_comments SET is_deleted = true, deletion_id = ? WHERE repo_id = ? AND NOT is_deleted`,
  ],
  [
    'proposals',
    `UPDATE musehub_proposals SET deleted_at = ?, deletion_id = ? WHERE repo_id = ? AND deleted_at IS NULL`,
  ],
  [
    'proposalComments',
    `UPDATE musehub_proposal_comments SET is_deleted = true, deletion_id = ? WHERE repo_id = ? AND NOT is_deleted`,
  ],
  ['webhooks', `UPDATE musehub_webhooks SET active = false, deletion_id = ? WHERE repo_id = ? AND active`],
] as const;

/** The reverse: only rows stamped with this deletion_id (a comment its author deleted earlier stays deleted). */
const RESTORE = [
  ['issues', `UPDATE musehub_issues SET deleted_at = NULL, deletion_id = NULL WHERE repo_id = ? AND deletion_id = ?`],
  [
    'issueComments',
    `UPDATE musehub_issue_comments SET is_deleted = false, deletion_id = NULL WHERE repo_id = ? AND deletion_id = ?`,
  ],
  [
    'proposals',
    `UPDATE musehub_proposals SET deleted_at = NULL, deletion_id = NULL WHERE repo_id = ? AND deletion_id = ?`,
  ],
  [
    'proposalComments',
    `UPDATE musehub_proposal_comments SET is_deleted = false, deletion_id = NULL WHERE repo_id = ? AND deletion_id = ?`,
  ],
  ['webhooks', `UPDATE musehub_webhooks SET active = true, deletion_id = NULL WHERE repo_id = ? AND deletion_id = ?`],
] as const;

export type TableCounts = Record<(typeof CASCADE)[number][0], number>;

/** One event in the append-only audit log; `actor` null for the gateway itself (scheduled purge). */
export async function audit(
  em: EntityManager,
  action: 'repo.delete' | 'repo.restore' | 'repo.purge',
  actor: AuthUser | null,
  repoId: string,
  deletionId: string,
  details: object,
) {
  await runSql(
    em,
    `INSERT INTO musehub_audit_events (event_id, actor_user_id, action, repo_id, deletion_id, details) VALUES (?, ?, ?, ?, ?, ?::jsonb)`,
    [randomUUID(), actor?.userId ?? null, action, repoId, deletionId, JSON.stringify(details)],
  );
}

export interface DeleteResult {
  alreadyDeleted: boolean;
  deletionId: string;
  counts: TableCounts | null;
  /** How long the repo row stayed locked, ms (lock acquired → commit issued). */
  lockedMs: number;
}

/**
 * Why a repo was deleted by someone other than its owner: its private parent was deleted (it
 * comes back when that deletion is restored), or its owner lost read access to the parent.
 */
type Cause =
  | { cause: 'parent_deleted'; parentRepoId: string; parentDeletionId: string }
  | { cause: 'access_lost'; parentRepoId: string };

/** Repos that left (or came back to) the live set in one transaction: every process must forget them. */
export type Changed = Pick<Repo, 'repoId' | 'owner' | 'slug'>[];

/**
 * Tombstones one locked, live repo and what hangs off it, audits it and queues its NOTIFY; then,
 * if it is private, its live private forks the same way (GitHub's rule: a private repo's forks go
 * with it), each with its own deletion_id and `deleted_with` pointing at this one.
 */
async function tombstone(
  tx: EntityManager,
  repo: Repo,
  actor: AuthUser,
  changed: Changed,
  cause?: Cause,
): Promise<{ deletionId: string; counts: TableCounts }> {
  const deletionId = randomUUID();
  // clock_timestamp(), not now(): taken after the lock was granted, so every push that
  // committed before this delete has an earlier timestamp than deleted_at.
  const [stamped] = await runSql<{ deleted_at: Date }>(
    tx,
    `UPDATE musehub_repos SET deleted_at = clock_timestamp(), deleted_by = ?, deletion_id = ?, deleted_with = ?,
            updated_at = clock_timestamp()
      WHERE repo_id = ? RETURNING deleted_at`,
    [actor.userId, deletionId, cause?.cause === 'parent_deleted' ? cause.parentDeletionId : null, repo.repoId],
  );
  const counts = {} as TableCounts;
  for (const [table, sql] of CASCADE) {
    const params = sql.includes('deleted_at = ?')
      ? [stamped!.deleted_at, deletionId, repo.repoId]
      : [deletionId, repo.repoId];
    counts[table] = await runSqlCount(tx, sql, params);
  }
  await audit(tx, 'repo.delete', actor, repo.repoId, deletionId, {
    owner: repo.owner,
    slug: repo.slug,
    tombstoned: counts,
    ...cause,
  });
  await notifyLiveness(tx, 'delete', repo);
  changed.push(repo);
  if (repo.visibility === 'private') {
    const parentDeleted = { cause: 'parent_deleted', parentRepoId: repo.repoId, parentDeletionId: deletionId } as const;
    await tombstoneForks(tx, repo.repoId, null, actor, changed, parentDeleted);
  }
  return { deletionId, counts };
}

/** The live private forks of a repo (only `ownerUserId`'s when given), each locked and tombstoned. */
async function tombstoneForks(
  tx: EntityManager,
  parentRepoId: string,
  ownerUserId: string | null,
  actor: AuthUser,
  changed: Changed,
  cause: Cause,
): Promise<void> {
  const forks = await runSql<{ repo_id: string }>(
    tx,
    `SELECT repo_id FROM musehub_repos
      WHERE fork_parent_id = ? AND ${repoIsLive('musehub_repos')} AND visibility = 'private' AND (?::uuid IS NULL OR owner_user_id = ?)
      ORDER BY repo_id`,
    [parentRepoId, ownerUserId, ownerUserId],
  );
  for (const { repo_id } of forks) {
    const fork = await lockRepoExclusive(tx, repo_id);
    // Deleted by its owner while we waited for its lock: nothing left to do.
    if (fork && !fork.deletedAt) await tombstone(tx, fork, actor, changed, cause);
  }
}

export function forgetRepos(cache: RepoLivenessCache | undefined, changed: Changed) {
  for (const repo of changed) {
    cache?.evictRepo(repo.repoId);
    cache?.evictName(repo.owner, repo.slug);
  }
}

/**
 * Soft-deletes a repo and tombstones what hangs off it, in one transaction; a private repo takes
 * its private forks with it (restored with it). Owner only: requireOwnership gave anyone else the
 * repo 404 (already deleted, or private and unreadable to them) or 403 (a live repo they can see).
 * Deleting again is a no-op success. After commit the local liveness cache forgets the repos;
 * other processes do so on the NOTIFY.
 */
export async function softDeleteRepo(
  em: EntityManager,
  cache: RepoLivenessCache | undefined,
  owner: OwnerAccess,
): Promise<DeleteResult> {
  const { user: actor } = owner;
  const { repoId } = owner.repo;
  let lockedAt = 0;
  const changed: Changed = [];
  const result = await em.transactional(async (tx) => {
    const repo = await lockRepoExclusive(tx, repoId);
    lockedAt = performance.now();
    if (!repo) throw repoNotFound();
    if (repo.deletedAt) return { alreadyDeleted: true, deletionId: repo.deletionId ?? '', counts: null };
    return { alreadyDeleted: false, ...(await tombstone(tx, repo, actor, changed)) };
  });
  const lockedMs = performance.now() - lockedAt;
  forgetRepos(cache, changed);
  return { ...result, lockedMs };
}

/**
 * Deletes `ownerUserId`'s private forks of a private repo they may no longer read (their
 * collaborator row was removed in `tx`), as GitHub does. Returns what every process must forget.
 */
export async function deleteForksOfLostAccess(
  tx: EntityManager,
  parent: Pick<Repo, 'repoId' | 'visibility'>,
  ownerUserId: string,
  actor: AuthUser,
): Promise<Changed> {
  const changed: Changed = [];
  if (parent.visibility !== 'private') return changed;
  await tombstoneForks(tx, parent.repoId, ownerUserId, actor, changed, {
    cause: 'access_lost',
    parentRepoId: parent.repoId,
  });
  return changed;
}

/** Whether a live repo holds owner/slug (other than `repoId`). */
async function nameTaken(tx: EntityManager, repo: Repo): Promise<boolean> {
  // Raw: inside a restore's transaction, which has just read the repo past the live filter.
  const taken = await runSql(
    tx,
    `SELECT 1 FROM musehub_repos r WHERE r.owner = ? AND r.slug = ? AND ${repoIsLive('r')} AND r.repo_id <> ?`,
    [repo.owner, repo.slug, repo.repoId],
  );
  return taken.length > 0;
}

/**
 * Revives one locked, deleted repo and exactly the rows its delete tombstoned; then the forks
 * that deletion took with it (those whose name is still free: the others stay in their owner's
 * deleted list, restorable by them).
 */
async function revive(tx: EntityManager, repo: Repo, actor: AuthUser, changed: Changed): Promise<void> {
  const deletionId = repo.deletionId!;
  const counts = {} as TableCounts;
  for (const [table, sql] of RESTORE) counts[table] = await runSqlCount(tx, sql, [repo.repoId, deletionId]);
  await runSql(
    tx,
    `UPDATE musehub_repos SET deleted_at = NULL, deleted_by = NULL, deletion_id = NULL, deleted_with = NULL,
            updated_at = clock_timestamp()
      WHERE repo_id = ?`,
    [repo.repoId],
  );
  await claimName(tx, repo.owner, repo.slug);
  await audit(tx, 'repo.restore', actor, repo.repoId, deletionId, {
    owner: repo.owner,
    slug: repo.slug,
    revived: counts,
  });
  await notifyLiveness(tx, 'restore', repo);
  changed.push(repo);
  const forks = await runSql<{ repo_id: string }>(
    tx,
    'SELECT repo_id FROM musehub_repos WHERE deleted_with = ? AND deleted_at IS NOT NULL ORDER BY repo_id',
    [deletionId],
  );
  for (const { repo_id } of forks) {
    const fork = await lockRepoExclusive(tx, repo_id);
    if (fork?.deletedAt && fork.deletedWith === deletionId && !(await nameTaken(tx, fork))) {
      await revive(tx, fork, actor, changed);
    }
  }
}

/**
 * Revives a deleted repo and exactly the rows its delete tombstoned, and the private forks that
 * delete took with it. 409 when the repo is not deleted, when a live repo has taken the owner/slug meanwhile, or when the repo is
 * a private fork whose parent its owner may no longer read (it comes back with the parent, or
 * once they may read it again). Owner only (requireOwnership); anyone else sees the repo 404.
 */
export async function restoreRepo(
  em: EntityManager,
  cache: RepoLivenessCache | undefined,
  owner: OwnerAccess,
): Promise<Repo> {
  const { user: actor } = owner;
  const { repoId } = owner.repo;
  const changed: Changed = [];
  await em.transactional(async (tx) => {
    const found = await lockRepoExclusive(tx, repoId);
    if (!found) throw repoNotFound();
    if (!found.deletedAt) {
      throw new ConflictError(
        `'${found.owner}/${found.slug}' is not deleted: there is nothing to restore`,
        'repo_not_deleted',
      );
    }
    if (await nameTaken(tx, found)) {
      throw new ConflictError(
        `a live repo named '${found.owner}/${found.slug}' exists: rename it (musehub repo rename ${found.owner}/${found.slug} <new-name>, or PATCH /api/v1/repos/{repo_id} with a new name) or delete it, then restore this one`,
        'repo_name_taken',
      );
    }
    if (found.visibility === 'private' && found.forkParentId && !(await mayRead(tx, actor, found.forkParentId))) {
      throw new ConflictError(
        `'${found.owner}/${found.slug}' is a private fork of a repo you can no longer read; it comes back if that repo is restored or you are given access again`,
        'fork_parent_unavailable',
      );
    }
    await revive(tx, found, actor, changed);
  });
  forgetRepos(cache, changed);
  // A fresh read: the locked entity above still carries its tombstone fields. Without the
  // live filter: a delete that commits right after this restore must not turn the restore's
  // own answer into a crash (found by the soak); the owner sees the row as it now is.
  return (await em.fork().findOne(RepoSchema, { repoId }, { filters: false }))!;
}

async function mayRead(em: EntityManager, user: AuthUser, repoId: string): Promise<boolean> {
  try {
    await requireRepoAccess(em, user, repoId, 'read');
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

export interface DeletedRepo {
  repoId: string;
  owner: string;
  slug: string;
  name: string;
  visibility: string;
  deletedAt: string;
  deletedBy: string | null;
  /** Rows the delete tombstoned with it, per table (what a restore brings back). */
  tombstoned: Record<string, number>;
  /** False when a live repo has taken owner/slug since: a restore would be refused (409). */
  nameFree: boolean;
  /** Deleted by someone else: with its private parent, or when its owner lost access to the parent. */
  cause: 'parent_deleted' | 'access_lost' | null;
  /** When the retention window purges it for good; null while deleted repos are kept forever. */
  purgeAt: string | null;
}

/**
 * The caller's own deleted repos, newest deletion first (GitHub's and GitLab's "deleted
 * repositories" list). Raw SQL with the tombstone condition spelled out: the live filter would
 * hide every row this reads. Only the owner's rows: nobody else may learn a deleted repo exists.
 */
export async function listDeletedRepos(
  em: EntityManager,
  owner: AuthUser,
  limit: number,
  retentionDays = 0,
): Promise<DeletedRepo[]> {
  const rows = await runSql<{
    repo_id: string;
    owner: string;
    slug: string;
    name: string;
    visibility: string;
    deleted_at: Date;
    deleted_by: string | null;
    tombstoned: Record<string, number> | null;
    cause: DeletedRepo['cause'];
    name_free: boolean;
  }>(
    em,
    `SELECT r.repo_id, r.owner, r.slug, r.name, r.visibility, r.deleted_at, u.username AS deleted_by,
            a.details->'tombstoned' AS tombstoned, a.details->>'cause' AS cause,
            NOT EXISTS (SELECT 1 FROM musehub_repos l
                         WHERE l.owner = r.owner AND l.slug = r.slug AND ${repoIsLive('l')}) AS name_free
       FROM musehub_repos r
       LEFT JOIN musehub_users u ON u.user_id = r.deleted_by
       LEFT JOIN LATERAL (SELECT details FROM musehub_audit_events
                           WHERE repo_id = r.repo_id AND deletion_id = r.deletion_id AND action = 'repo.delete'
                           LIMIT 1) a ON true
      WHERE r.owner_user_id = ? AND r.deleted_at IS NOT NULL
      ORDER BY r.deleted_at DESC, r.repo_id DESC
      LIMIT ?`,
    [owner.userId, limit],
  );
  return rows.map((r) => ({
    repoId: r.repo_id,
    owner: r.owner,
    slug: r.slug,
    name: r.name,
    visibility: r.visibility,
    deletedAt: new Date(r.deleted_at).toISOString(),
    deletedBy: r.deleted_by,
    tombstoned: r.tombstoned ?? {},
    nameFree: r.name_free,
    cause: r.cause ?? null,
    purgeAt: retentionDays ? new Date(new Date(r.deleted_at).getTime() + retentionDays * DAY_MS).toISOString() : null,
  }));
}

/** A retention day, in ms. */
export const DAY_MS = 24 * 60 * 60 * 1000;
