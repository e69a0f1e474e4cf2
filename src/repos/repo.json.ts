import type { z } from '@hono/zod-openapi';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Repo } from './repo.entity.ts';
import type { RepoSchemaJson } from './repo.schema.ts';
import { liveRepoIds } from './repo.service.ts';

/** forkParentId is shown only while the parent is live: a deleted parent is not exposed through its forks. */
export async function reposToJson(em: EntityManager, repos: Repo[], publicUrl: string) {
  const live = await liveRepoIds(
    em,
    repos.map((r) => r.forkParentId).filter((id): id is string => !!id),
  );
  return repos.map((r) => repoToJson(r, publicUrl, !!r.forkParentId && live.has(r.forkParentId)));
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
