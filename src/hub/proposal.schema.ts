import { z } from '@hono/zod-openapi';
import { BranchNameSchema } from '../repos/names.ts';
import { ThreadBody, ThreadTitle } from './thread.schema.ts';

const State = z.enum(['open', 'closed', 'merged']);

/** A proposal (pull request) as REST, MCP and the pages show it. */
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

const Branch = BranchNameSchema;

export const CreateProposal = z
  .object({ title: ThreadTitle, body: ThreadBody.optional(), fromBranch: Branch, toBranch: Branch.optional() })
  .openapi('CreateProposal');
export const PatchProposal = z
  .object({ title: ThreadTitle.optional(), body: ThreadBody.optional(), state: State.optional() })
  .openapi('PatchProposal');
