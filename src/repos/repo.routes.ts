import { createRoute, z } from '@hono/zod-openapi';
import type { Metrics } from '../metrics.ts';
import { requireUser } from '../middleware/auth.ts';
import { repoAccess } from '../middleware/repo-access.ts';
import { createRouter, errorResponses, json, PageQuerySchema, RepoIdParam, withNextLink } from '../openapi.ts';
import { redirectIfRenamed, requireOwnership } from './access.ts';
import { listDeletedRepos, restoreRepo, softDeleteRepo } from './delete.service.ts';
import { announceNewRepo } from './live-repo.ts';
import type { RepoLivenessCache } from './liveness-cache.ts';
import { purgeDeletedRepo } from './purge.service.ts';
import { reposToJson, repoToJson } from './repo.json.ts';
import {
  CreateRepoSchema,
  DeletedRepoListSchema,
  PurgeResultSchema,
  RepoListSchema,
  RepoSchemaJson,
  UpdateRepoSchema,
} from './repo.schema.ts';
import {
  createRepo,
  getReadableRepo,
  getReadableRepoByName,
  listReposForUser,
  listReposOwnedBy,
} from './repo.service.ts';
import { updateRepoSettings } from './settings.service.ts';

const UsernameParam = z.object({
  username: z
    .string()
    .max(64)
    .openapi({ param: { name: 'username', in: 'path' } }),
});

/** `/users/{username}/repos/{slug}`: a repo by its full name. */
const RepoNameParam = UsernameParam.extend({
  slug: z
    .string()
    .max(128)
    .openapi({ param: { name: 'slug', in: 'path' } }),
});

/** REST routes for repos, mounted under /api/v1. */
export function repoRoutes(
  publicUrl: string,
  cache: RepoLivenessCache,
  metrics: Pick<Metrics, 'countTombstones'>,
  retentionDays = 0,
) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos',
      tags: ['Repos'],
      summary: 'Create a repo owned by the caller',
      request: { body: { required: true, content: { 'application/json': { schema: CreateRepoSchema } } } },
      responses: { 201: json(RepoSchemaJson, 'Created'), ...errorResponses(400, 401, 409) },
    }),
    async (c) => {
      const user = requireUser(c.var.user);
      const repo = await createRepo(c.var.em, user, c.req.valid('json'));
      await announceNewRepo(c.var.em, cache, repo);
      c.header('Location', `${publicUrl}/api/v1/repos/${repo.repoId}`);
      return c.json(repoToJson(repo, publicUrl), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos',
      tags: ['Repos'],
      summary: "The caller's own and collaborated repos, newest first",
      request: { query: PageQuerySchema },
      responses: { 200: json(RepoListSchema, 'A page of repos'), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const user = requireUser(c.var.user);
      const page = c.req.valid('query');
      const { items, nextCursor } = await listReposForUser(c.var.em, user, page);
      const repos = await reposToJson(c.var.em, items, publicUrl);
      return c.json({ repos, ...withNextLink(c, publicUrl, nextCursor, page.limit) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}',
      tags: ['Repos'],
      summary: 'Read a repo by id',
      request: { params: RepoIdParam },
      responses: {
        200: json(RepoSchemaJson, 'The repo'),
        301: { description: 'Renamed: `Location` is its current URL (the old name keeps leading there)' },
        ...errorResponses(401, 404),
      },
    }),
    async (c) => {
      const repo = await getReadableRepo(c.var.em, c.var.user, c.req.valid('param').repo_id);
      return c.json((await reposToJson(c.var.em, [repo], publicUrl))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/users/{username}/repos',
      tags: ['Repos'],
      summary: "A user's repos that the caller may see",
      request: { params: UsernameParam, query: PageQuerySchema },
      responses: { 200: json(RepoListSchema, 'A page of repos'), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const page = c.req.valid('query');
      const { items, nextCursor } = await listReposOwnedBy(c.var.em, c.var.user, c.req.valid('param').username, page);
      const repos = await reposToJson(c.var.em, items, publicUrl);
      return c.json({ repos, ...withNextLink(c, publicUrl, nextCursor, page.limit) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/users/{username}/repos/{slug}',
      tags: ['Repos'],
      summary: 'Read a repo by owner and slug',
      request: {
        params: RepoNameParam,
      },
      responses: { 200: json(RepoSchemaJson, 'The repo'), ...errorResponses(401, 404) },
    }),
    async (c) => {
      const { username, slug } = c.req.valid('param');
      const repo = await getReadableRepoByName(c.var.em, c.var.user, username, slug);
      redirectIfRenamed(
        { owner: username, slug },
        repo,
        (now) => `${publicUrl}/api/v1/users/${now.owner}/repos/${now.slug}`,
      );
      return c.json((await reposToJson(c.var.em, [repo], publicUrl))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/repos/{repo_id}',
      middleware: [repoAccess('admin')] as const,
      tags: ['Repos'],
      summary:
        'Rename a repo, or change its description or visibility (owner or admin). A rename keeps the old name leading to the repo (REST and pages redirect, `muse` remotes keep working) until another repo takes it',
      request: {
        params: RepoIdParam,
        body: { required: true, content: { 'application/json': { schema: UpdateRepoSchema } } },
      },
      responses: { 200: json(RepoSchemaJson, 'The repo as it now is'), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const repo = await updateRepoSettings(c.var.em, cache, c.var.access, c.req.valid('json'));
      return c.json((await reposToJson(c.var.em, [repo], publicUrl))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repos/{repo_id}',
      tags: ['Repos'],
      summary:
        'Soft-delete a repo (owner only); its issues, proposals and comments are tombstoned with it. Idempotent.',
      request: { params: RepoIdParam },
      responses: { 204: { description: 'Deleted (or already deleted)' }, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      const owner = await requireOwnership(c.var.em, c.var.user, c.req.valid('param'), 'delete');
      const result = await softDeleteRepo(c.var.em, cache, owner);
      metrics.countTombstones(result.alreadyDeleted ? null : result.counts);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos/{repo_id}/restore',
      tags: ['Repos'],
      summary: 'Restore a deleted repo and exactly what its delete tombstoned (owner only)',
      request: { params: RepoIdParam },
      responses: { 200: json(RepoSchemaJson, 'The restored repo'), ...errorResponses(401, 404, 409) },
    }),
    async (c) => {
      const owner = await requireOwnership(c.var.em, c.var.user, c.req.valid('param'), 'restore');
      const repo = await restoreRepo(c.var.em, cache, owner);
      return c.json((await reposToJson(c.var.em, [repo], publicUrl))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/user/deleted-repos',
      tags: ['Repos'],
      summary: "The caller's own deleted repos, newest deletion first, with what each delete tombstoned",
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(100).optional() }) },
      responses: { 200: json(DeletedRepoListSchema, 'Deleted repos'), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const repos = await listDeletedRepos(
        c.var.em,
        requireUser(c.var.user),
        c.req.valid('query').limit ?? 100,
        retentionDays,
      );
      return c.json({ repos }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users/{username}/repos/{slug}/restore',
      tags: ['Repos'],
      summary: 'Restore your deleted repo by its name (owner only); 409 when a live repo has taken the name',
      request: {
        params: RepoNameParam,
      },
      responses: { 200: json(RepoSchemaJson, 'The restored repo'), ...errorResponses(401, 404, 409) },
    }),
    async (c) => {
      const { username: owner, slug } = c.req.valid('param');
      const repo = await restoreRepo(
        c.var.em,
        cache,
        await requireOwnership(c.var.em, c.var.user, { owner, slug }, 'restore'),
      );
      return c.json((await reposToJson(c.var.em, [repo], publicUrl))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/user/deleted-repos/{username}/{slug}/purge',
      tags: ['Repos'],
      summary:
        'Delete your deleted repo permanently now (owner only): its rows are removed for good and it cannot be restored; 409 when the repo is live',
      request: { params: RepoNameParam },
      responses: { 200: json(PurgeResultSchema, 'What was purged'), ...errorResponses(401, 404, 409) },
    }),
    async (c) => {
      const { username: owner, slug } = c.req.valid('param');
      const access = await requireOwnership(c.var.em, c.var.user, { owner, slug }, 'purge');
      const purged = await purgeDeletedRepo(c.var.em, access);
      return c.json({ purged: purged.map(({ deletionId: _, ...p }) => p) }, 200);
    },
  );

  return app;
}
