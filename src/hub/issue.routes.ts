import { createRoute, z } from '@hono/zod-openapi';
import { repoAccess } from '../middleware/repo-access.ts';
import {
  createRouter,
  errorResponses,
  json,
  jsonBody,
  NumberParam,
  PageQuerySchema,
  RepoIdParam,
  withNextLink,
} from '../openapi.ts';
import { registerCommentRoutes } from './comment.routes.ts';
import { issuesToJson } from './issue.json.ts';
import { CreateIssue, IssueJson, Label, PatchIssue } from './issue.schema.ts';
import { addLabels, createIssue, getIssue, listIssues, removeLabel, updateIssue } from './issue.service.ts';

export function issueRoutes(publicUrl: string) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos/{repo_id}/issues',
      middleware: [repoAccess('comment')] as const,
      tags: ['Issues'],
      summary: 'Open an issue (any signed-in reader; labels need write permission)',
      request: { params: RepoIdParam, body: jsonBody(CreateIssue) },
      responses: { 201: json(IssueJson, 'Created'), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const created = await createIssue(c.var.em, c.var.access, c.req.valid('json'));
      return c.json((await issuesToJson(c.var.em, [created]))[0]!, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/issues',
      middleware: [repoAccess('read')] as const,
      tags: ['Issues'],
      summary: 'List issues, newest first',
      request: {
        params: RepoIdParam,
        query: PageQuerySchema.extend({ state: z.enum(['open', 'closed', 'all']).default('open') }),
      },
      responses: {
        200: json(z.object({ issues: z.array(IssueJson), nextCursor: z.string().nullable() }), 'A page of issues'),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { state, ...page } = c.req.valid('query');
      const { items, nextCursor } = await listIssues(c.var.em, c.var.access, state, page);
      return c.json(
        { issues: await issuesToJson(c.var.em, items), ...withNextLink(c, publicUrl, nextCursor, page.limit) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/issues/{number}',
      middleware: [repoAccess('read')] as const,
      tags: ['Issues'],
      summary: 'Read an issue',
      request: { params: NumberParam },
      responses: { 200: json(IssueJson, 'The issue'), ...errorResponses(401, 404) },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      return c.json((await issuesToJson(c.var.em, [await getIssue(c.var.em, c.var.access, number)]))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/repos/{repo_id}/issues/{number}',
      middleware: [repoAccess('comment')] as const,
      tags: ['Issues'],
      summary: 'Edit, close or reopen an issue (author or writer)',
      request: { params: NumberParam, body: jsonBody(PatchIssue) },
      responses: { 200: json(IssueJson, 'The issue'), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      const updated = await updateIssue(c.var.em, c.var.access, number, c.req.valid('json'));
      return c.json((await issuesToJson(c.var.em, [updated]))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos/{repo_id}/issues/{number}/labels',
      middleware: [repoAccess('write')] as const,
      tags: ['Issues'],
      summary: 'Add labels (writers)',
      request: { params: NumberParam, body: jsonBody(z.object({ labels: z.array(Label).min(1).max(50) })) },
      responses: { 200: json(IssueJson, 'The issue'), ...errorResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      const updated = await addLabels(c.var.em, c.var.access, number, c.req.valid('json').labels);
      return c.json((await issuesToJson(c.var.em, [updated]))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repos/{repo_id}/issues/{number}/labels/{label}',
      middleware: [repoAccess('write')] as const,
      tags: ['Issues'],
      summary: 'Remove a label (writers)',
      request: { params: NumberParam.extend({ label: Label.openapi({ param: { name: 'label', in: 'path' } }) }) },
      responses: { 200: json(IssueJson, 'The issue'), ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      const { number, label } = c.req.valid('param');
      const updated = await removeLabel(c.var.em, c.var.access, number, label);
      return c.json((await issuesToJson(c.var.em, [updated]))[0]!, 200);
    },
  );

  registerCommentRoutes(app, 'issue', publicUrl);
  return app;
}
