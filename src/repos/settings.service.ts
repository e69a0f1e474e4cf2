import type { EntityManager } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';
import { BadRequestError, ConflictError } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';
import type { RepoAccess } from './access.ts';
import { inLiveRepo, notifyLiveness } from './live-repo.ts';
import type { RepoLivenessCache } from './liveness-cache.ts';
import { slugFromName } from './names.ts';
import { type Repo, RepoSchema, type Visibility } from './repo.entity.ts';

export interface RepoSettings {
  name?: string | undefined;
  description?: string | undefined;
  visibility?: Visibility | undefined;
}

/**
 * Changes a repo's name, description or visibility (owner or admin: the caller's access says
 * so). A new name is a new slug: the old owner/slug keeps answering for this repo (REST and pages
 * redirect, the wire protocol serves it as before) until another repo takes the name. Every
 * process caches the repo by name with its visibility, so the change is announced inside its
 * transaction and forgotten here at once — under both names.
 */
export async function updateRepoSettings(
  em: EntityManager,
  cache: RepoLivenessCache,
  access: RepoAccess<AuthUser>,
  settings: RepoSettings,
): Promise<Repo> {
  const { repoId } = access.repo;
  if (settings.name === undefined && settings.description === undefined && settings.visibility === undefined) {
    throw new BadRequestError('nothing to change: give a name, a description or a visibility', 'bad_request');
  }
  const newName =
    settings.name === undefined ? undefined : { name: settings.name.trim(), slug: slugFromName(settings.name) };
  const before = await inLiveRepo(em, repoId, async (tx) => {
    // The name as it is now, row locked: two renames at once must each leave behind the name the
    // other left, not both the one they read before (the access was resolved outside). NO KEY
    // UPDATE: it does not conflict with the KEY SHARE the gate already holds in this and every
    // other writer, so two changes queue instead of deadlocking on an upgrade.
    const [current] = await runSql<{ owner: string; slug: string }>(
      tx,
      'SELECT owner, slug FROM musehub_repos WHERE repo_id = ? FOR NO KEY UPDATE',
      [repoId],
    );
    const renamed = newName !== undefined && newName.slug !== current!.slug;
    if (renamed) {
      const taken = await tx.count(RepoSchema, { owner: current!.owner, slug: newName.slug });
      if (taken) throw new ConflictError(`you already have a repo named '${newName.slug}'`, 'repo_exists');
    }
    await tx.nativeUpdate(
      RepoSchema,
      { repoId },
      {
        ...newName,
        ...(settings.description === undefined ? {} : { description: settings.description }),
        ...(settings.visibility === undefined ? {} : { visibility: settings.visibility }),
        updatedAt: new Date(),
      },
    );
    if (renamed) {
      await keepOldName(tx, repoId, current!.owner, current!.slug);
      await claimName(tx, current!.owner, newName.slug);
      await notifyLiveness(tx, 'create', { repoId, owner: current!.owner, slug: newName.slug });
    }
    await notifyLiveness(tx, 'update', { repoId, ...current! });
    return current!;
  });
  cache.evictRepo(repoId);
  cache.evictName(before.owner, before.slug);
  if (newName) cache.evictName(before.owner, newName.slug);
  return (await em.fork().findOne(RepoSchema, { repoId }))!;
}

async function keepOldName(tx: EntityManager, repoId: string, owner: string, slug: string): Promise<void> {
  await runSql(
    tx,
    `INSERT INTO musehub_repo_renames (owner, slug, repo_id) VALUES (?, ?, ?)
       ON CONFLICT (owner, slug) DO UPDATE SET repo_id = excluded.repo_id, renamed_at = now()`,
    [owner, slug, repoId],
  );
}

/**
 * A repo comes to own owner/slug (created, forked, renamed or restored into it): the name stops
 * leading to whichever repo had it before, as on GitHub.
 */
export async function claimName(tx: EntityManager, owner: string, slug: string): Promise<void> {
  await runSql(tx, 'DELETE FROM musehub_repo_renames WHERE owner = ? AND slug = ?', [owner, slug]);
}

/**
 * The live repo an old name of a renamed repo leads to, as owner/slug; null when the name was
 * never left behind or its repo is deleted. Callers still decide access on the repo itself.
 */
export async function renamedTo(
  em: EntityManager,
  owner: string,
  slug: string,
): Promise<{ repoId: string; owner: string; slug: string } | null> {
  const [row] = await runSql<{ repo_id: string; owner: string; slug: string }>(
    em,
    `SELECT r.repo_id, r.owner, r.slug FROM musehub_repo_renames n
       JOIN musehub_repos r ON r.repo_id = n.repo_id AND ${repoIsLive('r')}
      WHERE n.owner = ? AND n.slug = ?`,
    [owner, slug],
  );
  return row ? { repoId: row.repo_id, owner: row.owner, slug: row.slug } : null;
}
