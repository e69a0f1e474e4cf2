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
import { proposalsToJson } from './proposal.json.ts';
import { CreateProposal, PatchProposal, ProposalJson } from './proposal.schema.ts';
import { createProposal, getProposal, listProposals, updateProposal } from './proposal.service.ts';

/** The hub's pull requests. */
export function proposalRoutes(publicUrl: string) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos/{repo_id}/proposals',
      middleware: [repoAccess('comment')] as const,
      tags: ['Proposals'],
      summary: 'Open a proposal to merge fromBranch into toBranch (default: the default branch)',
      request: { params: RepoIdParam, body: jsonBody(CreateProposal) },
      responses: { 201: json(ProposalJson, 'Created'), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const created = await createProposal(c.var.em, c.var.access, c.req.valid('json'));
      return c.json((await proposalsToJson(c.var.em, [created]))[0]!, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/proposals',
      middleware: [repoAccess('read')] as const,
      tags: ['Proposals'],
      summary: 'List proposals, newest first',
      request: {
        params: RepoIdParam,
        query: PageQuerySchema.extend({ state: z.enum(['open', 'closed', 'merged', 'all']).default('open') }),
      },
      responses: {
        200: json(
          z.object({ proposals: z.array(ProposalJson), nextCursor: z.string().nullable() }),
          'A page of proposals',
        ),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { state, ...page } = c.req.valid('query');
      const { items, nextCursor } = await listProposals(c.var.em, c.var.access, state, page);
      return c.json(
        { proposals: await proposalsToJson(c.var.em, items), ...withNextLink(c, publicUrl, nextCursor, page.limit) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/proposals/{number}',
      middleware: [repoAccess('read')] as const,
      tags: ['Proposals'],
      summary: 'Read a proposal',
      request: { params: NumberParam },
      responses: { 200: json(ProposalJson, 'The proposal'), ...errorResponses(401, 404) },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      return c.json((await proposalsToJson(c.var.em, [await getProposal(c.var.em, c.var.access, number)]))[0]!, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/repos/{repo_id}/proposals/{number}',
      middleware: [repoAccess('comment')] as const,
      tags: ['Proposals'],
      summary: 'Edit, close, reopen or mark merged (merging needs write permission)',
      request: { params: NumberParam, body: jsonBody(PatchProposal) },
      responses: { 200: json(ProposalJson, 'The proposal'), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      const updated = await updateProposal(c.var.em, c.var.access, number, c.req.valid('json'));
      return c.json((await proposalsToJson(c.var.em, [updated]))[0]!, 200);
    },
  );

  registerCommentRoutes(app, 'proposal', publicUrl);
  return app;
}
