import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql, runSqlCount } from '../db/sql.ts';
import { ConflictError, repoNotFound } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import type { OwnerAccess } from './access.ts';
import { audit } from './delete.service.ts';
import { lockRepoExclusive } from './live-repo.ts';

/**
 * Every row that holds a repo's id, children before parents. A purge deletes them for good —
 * the only hard delete there is. Object bytes are content-addressed and shared between repos:
 * they are not deleted here (the rows that name them are), only reported as unreferenced.
 */
const PURGE = [
  ['webhookDeliveries', 'DELETE FROM musehub_webhook_deliveries WHERE repo_id = ?'],
  ['webhooks', 'DELETE FROM musehub_webhooks WHERE repo_id = ?'],
  ['issueLabels', 'DELETE FROM musehub_issue_labels WHERE repo_id = ?'],
  ['issueComments', 'DELETE FROM musehub_issue_comments WHERE repo_id = ?'],
  ['issues', 'DELETE FROM musehub_issues WHERE repo_id = ?'],
  ['proposalComments', 'DELETE FROM musehub_proposal_comments WHERE repo_id = ?'],
  ['proposals', 'DELETE FROM musehub_proposals WHERE repo_id = ?'],
  ['collaborators', 'DELETE FROM musehub_collaborators WHERE repo_id = ?'],
  ['renames', 'DELETE FROM musehub_repo_renames WHERE repo_id = ?'],
  ['branches', 'DELETE FROM musehub_branches WHERE repo_id = ?'],
  ['commits', 'DELETE FROM musehub_commits WHERE repo_id = ?'],
  ['snapshots', 'DELETE FROM musehub_snapshots WHERE repo_id = ?'],
  ['objects', 'DELETE FROM musehub_objects WHERE repo_id = ?'],
] as const;

export type PurgeCounts = Record<(typeof PURGE)[number][0], number>;

export interface PurgedRepo {
  repoId: string;
  owner: string;
  slug: string;
  deletionId: string;
  counts: PurgeCounts;
  /** Objects (and their bytes) no remaining repo row names any more: what a GC may reclaim. */
  unreferenced: { objects: number; bytes: number };
}

export type PurgeReason = 'owner' | 'retention';

/**
 * Removes a deleted repo for good, in one transaction: every row that holds its id, and with it
 * its deleted private forks — they could only ever come back with read access to this repo,
 * which no longer exists. Live forks are detached (fork_parent_id cleared), as GitHub does. The
 * audit log keeps a `repo.purge` event per repo (who, row counts per table, what became
 * unreferenced), beside its earlier delete and restore events. 409 when the repo is live.
 */
export async function purgeDeletedRepo(em: EntityManager, owner: OwnerAccess): Promise<PurgedRepo[]> {
  if (!owner.repo.deleted) {
    throw new ConflictError(
      `'${owner.repo.owner}/${owner.repo.slug}' is not deleted: delete it first, then purge it`,
      'repo_not_deleted',
    );
  }
  return em.transactional((tx) => purgeTree(tx, owner.repo.repoId, owner.user, 'owner'));
}

/** The purge itself, inside the caller's transaction: the repo and its deleted private forks. */
export async function purgeTree(
  tx: EntityManager,
  rootId: string,
  actor: AuthUser | null,
  reason: PurgeReason,
): Promise<PurgedRepo[]> {
  // The delete's exclusive gate: a restore (or another purge) of the same repo waits for this one.
  const root = await lockRepoExclusive(tx, rootId);
  if (!root) throw repoNotFound();
  if (!root.deletedAt) {
    throw new ConflictError(
      `'${root.owner}/${root.slug}' was restored meanwhile; nothing was purged`,
      'repo_not_deleted',
    );
  }
  const repos = [root];
  for (let i = 0; i < repos.length; i++) {
    const forks = await runSql<{ repo_id: string }>(
      tx,
      `SELECT repo_id FROM musehub_repos
        WHERE fork_parent_id = ? AND deleted_at IS NOT NULL AND visibility = 'private' ORDER BY repo_id`,
      [repos[i]!.repoId],
    );
    for (const { repo_id } of forks) {
      const fork = await lockRepoExclusive(tx, repo_id);
      if (fork?.deletedAt) repos.push(fork);
    }
  }
  const ids = repos.map((r) => r.repoId);
  const purged: PurgedRepo[] = [];
  for (const repo of repos) {
    const [gone] = await runSql<{ objects: string; bytes: string }>(
      tx,
      `SELECT count(*) AS objects, coalesce(sum(o.size), 0) AS bytes FROM musehub_objects o
        WHERE o.repo_id = ? AND NOT EXISTS (
          SELECT 1 FROM musehub_objects x
           WHERE x.object_id = o.object_id AND x.repo_id NOT IN (SELECT jsonb_array_elements_text(?::jsonb)::uuid))`,
      [repo.repoId, JSON.stringify(ids)],
    );
    const counts = {} as PurgeCounts;
    for (const [table, sql] of PURGE) counts[table] = await runSqlCount(tx, sql, [repo.repoId]);
    const unreferenced = { objects: Number(gone!.objects), bytes: Number(gone!.bytes) };
    const deletionId = repo.deletionId ?? '';
    await audit(tx, 'repo.purge', actor, repo.repoId, deletionId, {
      owner: repo.owner,
      slug: repo.slug,
      deletedAt: repo.deletedAt?.toISOString(),
      reason,
      ...(repo.repoId === rootId ? {} : { withParent: rootId }),
      purged: counts,
      unreferenced,
    });
    purged.push({ repoId: repo.repoId, owner: repo.owner, slug: repo.slug, deletionId, counts, unreferenced });
  }
  await runSql(
    tx,
    'UPDATE musehub_repos SET fork_parent_id = NULL WHERE fork_parent_id IN (SELECT jsonb_array_elements_text(?::jsonb)::uuid)',
    [JSON.stringify(ids)],
  );
  // The guard on musehub_repos lets a DELETE through only for the deleted row named here.
  for (const id of ids) {
    await runSql(tx, `SELECT set_config('musehub.purging', ?, true)`, [id]);
    await runSql(tx, 'DELETE FROM musehub_repos WHERE repo_id = ?', [id]);
  }
  await runSql(tx, `SELECT set_config('musehub.purging', '', true)`);
  return purged;
}

/** Deleted repos whose retention has run out: deleted before `before`, oldest first. */
export async function expiredRepos(
  em: EntityManager,
  before: Date,
  limit: number,
): Promise<{ repoId: string; owner: string; slug: string; deletedAt: Date }[]> {
  const rows = await runSql<{ repo_id: string; owner: string; slug: string; deleted_at: Date }>(
    em,
    `SELECT repo_id, owner, slug, deleted_at FROM musehub_repos
      WHERE deleted_at IS NOT NULL AND deleted_at < ? ORDER BY deleted_at, repo_id LIMIT ?`,
    [before, limit],
  );
  return rows.map((r) => ({ repoId: r.repo_id, owner: r.owner, slug: r.slug, deletedAt: r.deleted_at }));
}

/**
 * Purges every repo deleted before `before`, each in its own savepoint (one that fails, e.g.
 * restored meanwhile, is skipped and the rest go on), while holding the cluster-wide purge lock:
 * one process purges at a time. Null when another process holds the lock.
 */
export async function purgeExpired(
  em: EntityManager,
  before: Date,
  opts: { limit?: number; dryRun?: boolean } = {},
): Promise<{ purged: PurgedRepo[]; skipped: { repoId: string; reason: string }[] } | null> {
  return em.transactional(async (tx) => {
    const [lock] = await runSql<{ ok: boolean }>(tx, `SELECT pg_try_advisory_xact_lock(hashtextextended(?, 0)) AS ok`, [
      PURGE_LOCK,
    ]);
    if (!lock?.ok) return null;
    const purged: PurgedRepo[] = [];
    const skipped: { repoId: string; reason: string }[] = [];
    const done = new Set<string>();
    for (const candidate of await expiredRepos(tx, before, opts.limit ?? 1000)) {
      if (done.has(candidate.repoId)) continue;
      if (opts.dryRun) {
        purged.push({
          ...candidate,
          deletionId: '',
          counts: {} as PurgeCounts,
          unreferenced: { objects: 0, bytes: 0 },
        });
        continue;
      }
      try {
        const result = await tx.transactional((sp) => purgeTree(sp, candidate.repoId, null, 'retention'));
        for (const r of result) done.add(r.repoId);
        purged.push(...result);
      } catch (err) {
        skipped.push({ repoId: candidate.repoId, reason: (err as Error).message });
      }
    }
    return { purged, skipped };
  });
}

/** The advisory lock that makes a scheduled purge run in one gateway process at a time. */
export const PURGE_LOCK = 'musehub-purge';
