import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { runSql } from '../db/sql.ts';
import { ConflictError } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import type { RepoAccess } from './access.ts';
import { inLiveRepo } from './live-repo.ts';
import { slugFromName } from './names.ts';
import { type Repo, RepoSchema } from './repo.entity.ts';
import { readableBy } from './repo.service.ts';
import { claimName } from './settings.service.ts';

/**
 * Forks a repo for the caller: a new repo with fork_parent_id set and the parent's branches,
 * commits, snapshots and object rows copied (not object bytes: the store is content-addressed).
 * A fork of a private repo is private.
 */
export async function forkRepo(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  input: { name?: string | undefined },
): Promise<Repo> {
  const { repo: parent, user: me } = access;
  const name = input.name ?? parent.name;
  const slug = slugFromName(name);
  if (await em.count(RepoSchema, { owner: me.username, slug })) {
    throw new ConflictError(`you already have a repo named '${slug}'`, 'repo_exists');
  }
  // Holds off a concurrent delete of the parent until the copy has committed.
  return inLiveRepo(em, parent.repoId, async (tx) => {
    const fork = tx.create(RepoSchema, {
      repoId: randomUUID(),
      owner: me.username,
      ownerUserId: me.userId,
      slug,
      name,
      description: parent.description,
      visibility: parent.visibility,
      defaultBranch: parent.defaultBranch,
      forkParentId: parent.repoId,
      pushedAt: parent.pushedAt ?? null,
    });
    await tx.flush();
    await claimName(tx, fork.owner, fork.slug);
    const copy = (table: string, columns: string) =>
      runSql(tx, `INSERT INTO ${table} (repo_id, ${columns}) SELECT ?, ${columns} FROM ${table} WHERE repo_id = ?`, [
        fork.repoId,
        parent.repoId,
      ]);
    await copy('musehub_objects', 'object_id, size');
    await copy('musehub_snapshots', 'snapshot_id, object_ids, record');
    await copy(
      'musehub_commits',
      'commit_id, parent_commit_id, parent2_commit_id, snapshot_id, branch, author, message, committed_at, record',
    );
    await copy('musehub_branches', 'name, head_commit_id');
    return fork;
  });
}

const ORDER = { createdAt: 'asc', repoId: 'asc' } as const;

/** Direct forks, or (flat) every fork below the repo at any depth, as far as the caller may see them. */
export async function listForks(
  em: EntityManager,
  access: RepoAccess,
  flat: boolean,
  page: PageRequest,
): Promise<Page<Repo>> {
  const repoId = access.repo.repoId;
  const visible = await readableBy(em, access.user);
  if (!flat) return findPage(em, RepoSchema, { forkParentId: repoId, $or: visible }, ORDER, page);
  // The walk passes through deleted forks too, so a live grandchild of a deleted fork is still
  // listed; the page query itself only returns live, readable repos (the default filter).
  const rows = await runSql<{ repo_id: string }>(
    em,
    `WITH RECURSIVE tree AS (
       SELECT repo_id FROM musehub_repos WHERE fork_parent_id = ?
       UNION
       SELECT r.repo_id FROM musehub_repos r JOIN tree t ON r.fork_parent_id = t.repo_id
     )
     SELECT repo_id FROM tree`,
    [repoId],
  );
  return findPage(em, RepoSchema, { repoId: { $in: rows.map((r) => r.repo_id) }, $or: visible }, ORDER, page);
}
