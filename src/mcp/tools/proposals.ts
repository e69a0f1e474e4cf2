import { z } from 'zod';
import { proposalsToJson } from '../../hub/proposal.json.ts';
import { CreateProposal } from '../../hub/proposal.schema.ts';
import { createProposal, getProposal, listProposals, updateProposal } from '../../hub/proposal.service.ts';
import { requireRepoAccessTo } from '../../repos/access.ts';
import { Limit, Number_, Proposal, PrState, READ, RepoRef, type ToolKit, WRITE } from '../kit.ts';

/** Proposals (pull requests) and their comments. */
export function registerProposalTools({ tool }: ToolKit) {
  tool(
    'musehub_list_prs',
    {
      title: 'List proposals',
      description: "A repo's proposals (MuseHub's pull requests), newest first.",
      input: { ...RepoRef, state: PrState, limit: Limit },
      output: { prs: z.array(Proposal) },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const { items } = await listProposals(em, a, args.state ?? 'open', {
        limit: args.limit ?? 30,
        cursor: undefined,
      });
      const prs = await proposalsToJson(em, items);
      return { text: prs.map((p) => `#${p.number} ${p.title}`).join('\n') || 'no proposals', data: { prs } };
    },
  );

  tool(
    'musehub_get_pr',
    {
      title: 'Get a proposal',
      description: 'One proposal of a repo, by number.',
      input: { ...RepoRef, number: Number_ },
      output: { pr: Proposal },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const [pr] = await proposalsToJson(em, [await getProposal(em, a, args.number)]);
      return { text: `#${pr!.number} ${pr!.title} (${pr!.state})`, data: { pr: pr! } };
    },
  );

  tool(
    'musehub_create_pr',
    {
      title: 'Create a proposal',
      description: 'Proposes merging one branch into another (signed in, able to read the repo).',
      input: { ...RepoRef, ...CreateProposal.shape },
      output: { pr: Proposal },
      annotations: WRITE,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'comment');
      const [pr] = await proposalsToJson(em, [await createProposal(em, a, args)]);
      return { text: `opened #${pr!.number} ${pr!.title}`, data: { pr: pr! } };
    },
  );

  tool(
    'musehub_merge_pr',
    {
      title: 'Merge a proposal',
      description:
        'Marks a proposal merged (write permission), as the REST API does. The gateway does not merge branches itself: push the merge commit with muse.',
      input: { ...RepoRef, number: Number_ },
      output: { pr: Proposal },
      annotations: { ...WRITE, idempotentHint: true },
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'comment');
      const [pr] = await proposalsToJson(em, [await updateProposal(em, a, args.number, { state: 'merged' })]);
      return { text: `#${pr!.number} ${pr!.title} merged`, data: { pr: pr! } };
    },
  );
}
