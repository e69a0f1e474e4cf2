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
import { BranchNameSchema } from '../repos/index.ts';
import { oneLineText } from '../text.ts';
import { usernamesById } from '../users/index.ts';
import { registerCommentRoutes } from './comment.routes.ts';
import type { Proposal } from './hub.entity.ts';
import { createProposal, getProposal, listProposals, updateProposal } from './proposal.service.ts';

const State = z.enum(['open', 'closed', 'merged']);

export const ProposalJson = z
  .object({
    proposalId: z.string().uuid(),
    repoId: z.string().uuid(),
    number: z.number().int(),
    title: z.string(),
    body: z.string(),
    fromBranch: z.string(),
    toBranch: z.string(),
    state: State,
    author: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    closedAt: z.string().nullable(),
    mergedAt: z.string().nullable(),
  })
  .openapi('Proposal');

const Title = oneLineText(256);
const Body = z.string().max(65_536);
const Branch = BranchNameSchema;

export const CreateProposal = z
  .object({ title: Title, body: Body.optional(), fromBranch: Branch, toBranch: Branch.optional() })
  .openapi('CreateProposal');
const PatchProposal = z
  .object({ title: Title.optional(), body: Body.optional(), state: State.optional() })
  .openapi('PatchProposal');

export async function proposalsToJson(em: Parameters<typeof usernamesById>[0], rows: Proposal[]) {
  const names = await usernamesById(
    em,
    rows.map((r) => r.authorUserId),
  );
  return rows.map((p) => ({
    proposalId: p.proposalId,
    repoId: p.repoId,
    number: p.number,
    title: p.title,
    body: p.body,
    fromBranch: p.fromBranch,
    toBranch: p.toBranch,
    state: p.state,
    author: names.get(p.authorUserId) ?? '',
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    closedAt: p.closedAt?.toISOString() ?? null,
    mergedAt: p.mergedAt?.toISOString() ?? null,
  }));
}

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
