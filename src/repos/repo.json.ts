import type { z } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Repo } from './repo.entity.ts';
import type { RepoSchemaJson } from './repo.schema.ts';
import { liveVisibilities } from './repo.service.ts';

/**
 * forkParentId is shown only while the parent is live, and on a public fork only while the parent
 * is public too: neither a parent's delete nor a parent made private (its public forks stay
 * public) may be seen through its forks by someone who cannot read the parent.
 */
export async function reposToJson(em: EntityManager, repos: Repo[], publicUrl: string) {
  const parents = await liveVisibilities(
    em,
    repos.map((r) => r.forkParentId).filter((id): id is string => !!id),
  );
  const parentVisible = (r: Repo) => {
    const parent = r.forkParentId ? parents.get(r.forkParentId) : undefined;
    return parent !== undefined && (parent === 'public' || r.visibility === 'private');
  };
  return repos.map((r) => repoToJson(r, publicUrl, parentVisible(r)));
}

export function repoToJson(repo: Repo, publicUrl: string, parentVisible = true): z.infer<typeof RepoSchemaJson> {
  return {
    repoId: repo.repoId,
    owner: repo.owner,
    ownerUserId: repo.ownerUserId,
    slug: repo.slug,
    name: repo.name,
    description: repo.description,
    visibility: repo.visibility,
    defaultBranch: repo.defaultBranch,
    forkParentId: parentVisible ? (repo.forkParentId ?? null) : null,
    cloneUrl: `${publicUrl}/${repo.owner}/${repo.slug}`,
    createdAt: repo.createdAt.toISOString(),
    updatedAt: repo.updatedAt.toISOString(),
    pushedAt: repo.pushedAt?.toISOString() ?? null,
  };
}
