import { createRoute, z } from '@hono/zod-openapi';
import { repoAccess } from '../middleware/repo-access.ts';
import {
  createRouter,
  errorResponses,
  json,
  jsonBody,
  NoContent,
  PageQuerySchema,
  RepoIdParam,
  withNextLink,
} from '../openapi.ts';
import { CollaboratorJson } from './collaborator.schema.ts';
import { listCollaborators, putCollaborator, removeCollaborator } from './collaborator.service.ts';
import { forkRepo, listForks } from './fork.service.ts';
import { announceNewRepo } from './live-repo.ts';
import type { RepoLivenessCache } from './liveness-cache.ts';
import { repoNameSchema } from './names.ts';
import { reposToJson } from './repo.json.ts';
import { RepoSchemaJson } from './repo.schema.ts';

const UserParam = RepoIdParam.extend({
  username: z
    .string()
    .max(64)
    .openapi({ param: { name: 'username', in: 'path' } }),
});

/** Collaborators and forks: the resources that hang off a repo in src/repos. */
export function repoMemberRoutes(publicUrl: string, cache: RepoLivenessCache) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'put',
      path: '/repos/{repo_id}/collaborators/{username}',
      middleware: [repoAccess('admin')] as const,
      tags: ['Collaborators'],
      summary: 'Add a collaborator or change their permission (owner or admin)',
      request: { params: UserParam, body: jsonBody(z.object({ permission: z.enum(['read', 'write', 'admin']) })) },
      responses: {
        200: json(CollaboratorJson, 'Permission changed'),
        201: json(CollaboratorJson, 'Added'),
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { username } = c.req.valid('param');
      const { collaborator, created } = await putCollaborator(
        c.var.em,
        cache,
        c.var.access,
        username,
        c.req.valid('json').permission,
      );
      const body = { ...collaborator, createdAt: collaborator.createdAt.toISOString() };
      return created ? c.json(body, 201) : c.json(body, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repos/{repo_id}/collaborators/{username}',
      middleware: [repoAccess('admin')] as const,
      tags: ['Collaborators'],
      summary: 'Remove a collaborator (owner or admin)',
      request: { params: UserParam },
      responses: { ...NoContent, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      const { username } = c.req.valid('param');
      await removeCollaborator(c.var.em, cache, c.var.access, username);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/collaborators',
      middleware: [repoAccess('read')] as const,
      tags: ['Collaborators'],
      summary: 'List collaborators (visible to the owner and collaborators)',
      request: { params: RepoIdParam },
      responses: {
        200: json(z.object({ collaborators: z.array(CollaboratorJson) }), 'Collaborators'),
        ...errorResponses(401, 403, 404),
      },
    }),
    async (c) => {
      const rows = await listCollaborators(c.var.em, c.var.access);
      return c.json({ collaborators: rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos/{repo_id}/forks',
      middleware: [repoAccess('comment')] as const,
      tags: ['Forks'],
      summary: 'Fork a repo into your account (a private repo forks private)',
      request: {
        params: RepoIdParam,
        body: {
          required: false,
          content: { 'application/json': { schema: z.object({ name: repoNameSchema().optional() }) } },
        },
      },
      responses: { 201: json(RepoSchemaJson, 'The fork'), ...errorResponses(400, 401, 404, 409) },
    }),
    async (c) => {
      const body = c.req.header('content-type')?.includes('json') ? c.req.valid('json') : {};
      const fork = await forkRepo(c.var.em, c.var.access, body);
      await announceNewRepo(c.var.em, cache, fork);
      c.header('Location', `${publicUrl}/api/v1/repos/${fork.repoId}`);
      return c.json((await reposToJson(c.var.em, [fork], publicUrl))[0]!, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/forks',
      middleware: [repoAccess('read')] as const,
      tags: ['Forks'],
      summary: 'Direct forks, or with flat=true every fork below at any depth (only those you may read)',
      request: {
        params: RepoIdParam,
        query: PageQuerySchema.extend({
          flat: z
            .enum(['true', 'false'])
            .default('false')
            .transform((v) => v === 'true'),
        }),
      },
      responses: {
        200: json(z.object({ forks: z.array(RepoSchemaJson), nextCursor: z.string().nullable() }), 'A page of forks'),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { flat, ...page } = c.req.valid('query');
      const { items, nextCursor } = await listForks(c.var.em, c.var.access, flat, page);
      const forks = await reposToJson(c.var.em, items, publicUrl);
      return c.json({ forks, ...withNextLink(c, publicUrl, nextCursor, page.limit) }, 200);
    },
  );
  return app;
}
