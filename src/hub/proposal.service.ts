import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../errors.ts';
import { checkBranchName, hasPermission, type RepoAccess } from '../repos/index.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import type { AuthUser } from '../users/index.ts';
import { enqueueEvent } from './events.ts';
import { type Proposal, ProposalSchema } from './hub.entity.ts';
import { repoRef } from './issue.service.ts';
import { nextNumber } from './numbering.ts';

export type ProposalState = 'open' | 'closed' | 'merged';

export async function findProposal(em: EntityManager, repoId: string, number: number): Promise<Proposal> {
  const proposal = await em.findOne(ProposalSchema, { repoId, number });
  if (!proposal) throw new NotFoundError(`proposal #${number} not found`, 'proposal_not_found');
  return proposal;
}

export async function createProposal(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  input: { title: string; body?: string | undefined; fromBranch: string; toBranch?: string | undefined },
): Promise<Proposal> {
  const repoId = access.repo.repoId;
  const { repo, user: me } = access;
  const toBranch = input.toBranch ?? repo.defaultBranch;
  checkBranchName(input.fromBranch, 'fromBranch');
  checkBranchName(toBranch, 'toBranch');
  if (input.fromBranch === toBranch) {
    throw new BadRequestError('fromBranch and toBranch must differ', 'invalid_branch');
  }
  return inLiveRepo(em, repoId, async (tx) => {
    const proposal = tx.create(ProposalSchema, {
      proposalId: randomUUID(),
      repoId,
      number: await nextNumber(tx, 'musehub_proposals', repoId),
      title: input.title,
      body: input.body ?? '',
      fromBranch: input.fromBranch,
      toBranch,
      authorUserId: me.userId,
    });
    await tx.flush();
    await enqueueEvent(tx, repoId, 'proposal.opened', {
      repo: repoRef(repo),
      proposal: {
        number: proposal.number,
        title: proposal.title,
        fromBranch: proposal.fromBranch,
        toBranch,
        author: me.username,
      },
    });
    return proposal;
  });
}

export async function listProposals(
  em: EntityManager,
  access: RepoAccess,
  state: ProposalState | 'all',
  page: PageRequest,
): Promise<Page<Proposal>> {
  const repoId = access.repo.repoId;
  return findPage(em, ProposalSchema, state === 'all' ? { repoId } : { repoId, state }, { number: 'desc' }, page);
}

/** How many of the repo's proposals are open. */
export const countOpenProposals = (em: EntityManager, access: RepoAccess) =>
  em.count(ProposalSchema, { repoId: access.repo.repoId, state: 'open' });

export async function getProposal(em: EntityManager, access: RepoAccess, number: number) {
  const repoId = access.repo.repoId;
  return findProposal(em, repoId, number);
}

/** Title and body: author or writer. Closing and reopening: author or writer. Merging: writers only. */
export async function updateProposal(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  number: number,
  patch: { title?: string | undefined; body?: string | undefined; state?: ProposalState | undefined },
): Promise<Proposal> {
  const repoId = access.repo.repoId;
  const { repo, permission, user: me } = access;
  return inLiveRepo(em, repoId, async (tx) => {
    const proposal = await findProposal(tx, repoId, number);
    const isWriter = hasPermission(permission, 'write');
    if (proposal.authorUserId !== me.userId && !isWriter) {
      throw new ForbiddenError(
        'only the author or a collaborator with write permission may edit this proposal',
        'insufficient_permission',
      );
    }
    if (patch.title !== undefined) proposal.title = patch.title;
    if (patch.body !== undefined) proposal.body = patch.body;
    const from = proposal.state;
    if (patch.state !== undefined && patch.state !== from) {
      if (from === 'merged') throw new ConflictError('a merged proposal cannot change state', 'proposal_merged');
      if (patch.state === 'merged' && !isWriter) {
        throw new ForbiddenError('you need write permission to merge', 'insufficient_permission');
      }
      proposal.state = patch.state;
      proposal.closedAt = patch.state === 'open' ? null : new Date();
      if (patch.state === 'merged') proposal.mergedAt = new Date();
      const event =
        patch.state === 'open' ? 'proposal.reopened' : patch.state === 'merged' ? 'proposal.merged' : 'proposal.closed';
      await enqueueEvent(tx, repoId, event, {
        repo: repoRef(repo),
        proposal: { number, title: proposal.title },
        actor: me.username,
      });
    }
    await tx.flush();
    return proposal;
  });
}
