import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { INVALIDATION_CHANNEL, notifyInvalidation } from '../db/invalidation.ts';
import { LIVE_REPO, repoGateKey, repoIsLive } from '../db/live-repo-sql.ts';
import { runSql as run } from '../db/sql.ts';
import { repoNotFound } from '../errors.ts';
import type { RepoLivenessCache } from './liveness-cache.ts';
import { type Repo, RepoSchema } from './repo.entity.ts';

/**
 * "This repo is live": the one place that says it in SQL for the code paths that cannot use the
 * ORM's live filter (a row lock, a read folded into another query), the write gate every write
 * goes through, and the notifications that tell every process a repo's liveness changed.
 * The SQL of "live" itself is db/live-repo-sql.ts.
 */

/**
 * Holds off a concurrent delete for the rest of the transaction; false when the repo is
 * gone. Two locks: a shared advisory "gate" lock, which queues fairly behind a waiting
 * delete (row share locks do not: a steady stream of pushes could starve a delete's
 * FOR UPDATE forever), then the row itself FOR KEY SHARE, which still conflicts with the
 * delete's FOR UPDATE but not with a push's own UPDATE of pushed_at, so two pushes cannot
 * deadlock there.
 */
export async function lockLiveRepo(em: EntityManager, repoId: string): Promise<boolean> {
  await run(em, 'SELECT pg_advisory_xact_lock_shared(hashtextextended(?, 0))', [repoGateKey(repoId)]);
  const sql = `SELECT 1 FROM musehub_repos r WHERE r.repo_id = ? AND ${repoIsLive('r')} FOR KEY SHARE`;
  return (await run(em, sql, [repoId])).length > 0;
}

/**
 * The gate's other half, for the delete and the restore: the exclusive gate lock, which writers
 * queue behind (so a stream of pushes cannot starve a delete), then the repo row, tombstoned or
 * not, FOR UPDATE until the transaction ends; null when there is no such row.
 */
export async function lockRepoExclusive(tx: EntityManager, repoId: string): Promise<Repo | null> {
  await run(tx, 'SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [repoGateKey(repoId)]);
  return tx.findOne(RepoSchema, { repoId }, { filters: false, lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
}

/**
 * The write gate: runs \`work\` in a transaction that holds off a concurrent delete of the repo
 * until it commits, after checking the repo is still live (the never-existed 404 if not). Every
 * write under a repo goes through here, so nothing can appear under a repo after its delete's
 * cascade has run, and a write racing a delete either lands before it or writes nothing.
 */
export function inLiveRepo<T>(em: EntityManager, repoId: string, work: (tx: EntityManager) => Promise<T>): Promise<T> {
  return em.transactional(async (tx) => {
    if (!(await lockLiveRepo(tx, repoId))) throw repoNotFound();
    return work(tx);
  });
}

/** The never-existed 404 unless the repo is live now (the caches that resolved it may be a moment stale). */
export async function requireLive(em: EntityManager, repoId: string): Promise<void> {
  if (!(await isLive(em, repoId))) throw repoNotFound();
}

export async function isLive(em: EntityManager, repoId: string): Promise<boolean> {
  const [row] = await run<{ live: boolean }>(em, `SELECT ${LIVE_REPO} AS live`, [repoId]);
  return row!.live;
}

/**
 * Refs in one round trip that also re-checks liveness: a stale cache entry for a repo
 * deleted a moment ago yields null here, never its branches.
 */
export async function liveRefs(
  em: EntityManager,
  repoId: string,
): Promise<{ defaultBranch: string; heads: Record<string, string> } | null> {
  const rows = await run<{ default_branch: string; name: string | null; head_commit_id: string | null }>(
    em,
    `SELECT r.default_branch, b.name, b.head_commit_id
       FROM musehub_repos r LEFT JOIN musehub_branches b ON b.repo_id = r.repo_id
      WHERE r.repo_id = ? AND ${repoIsLive('r')}
      ORDER BY b.name`,
    [repoId],
  );
  if (!rows.length) return null;
  const heads: Record<string, string> = {};
  for (const r of rows) if (r.name && r.head_commit_id) heads[r.name] = r.head_commit_id;
  return { defaultBranch: rows[0]!.default_branch, heads };
}

/** A push landed: the repo's pushed_at, and its default branch when this push created the first one. */
export async function recordPush(em: EntityManager, repoId: string, branch: string, firstBranch: boolean) {
  await run(
    em,
    `UPDATE musehub_repos SET pushed_at = now(), updated_at = now(),
            default_branch = CASE WHEN ? THEN ? ELSE default_branch END
      WHERE repo_id = ?`,
    [firstBranch, branch, repoId],
  );
}

/** The invalidation channel every gateway process LISTENs on (see db/invalidation.ts). */
export const LIVENESS_CHANNEL = INVALIDATION_CHANNEL;

export type LivenessOp = 'delete' | 'restore' | 'create' | 'update';

/** Queue a liveness notification; PostgreSQL delivers it only if and when the transaction commits. */
export async function notifyLiveness(em: EntityManager, op: LivenessOp, repo: Pick<Repo, 'repoId' | 'owner' | 'slug'>) {
  await notifyInvalidation(em, { op, repoId: repo.repoId, owner: repo.owner, slug: repo.slug });
}

/**
 * A repo came into being under a name (create, fork): forget a cached "no such repo" for that
 * name here at once, and in every other process when the notification arrives.
 */
export async function announceNewRepo(
  em: EntityManager,
  cache: RepoLivenessCache,
  repo: Pick<Repo, 'repoId' | 'owner' | 'slug'>,
) {
  cache.evictName(repo.owner, repo.slug);
  await notifyLiveness(em, 'create', repo);
}
