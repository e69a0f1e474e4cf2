import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError, repoNotFound } from '../errors.ts';
import { lockLiveRepo } from '../history/history.store.ts';
import { checkBranchName, hasPermission, requireRepoAccess } from '../repos/index.ts';
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
  user: AuthUser | null,
  repoId: string,
  input: { title: string; body?: string | undefined; fromBranch: string; toBranch?: string | undefined },
): Promise<Proposal> {
  const { repo } = await requireRepoAccess(em, user, repoId, 'comment');
  const toBranch = input.toBranch ?? repo.defaultBranch;
  checkBranchName(input.fromBranch, 'fromBranch');
  checkBranchName(toBranch, 'toBranch');
  if (input.fromBranch === toBranch) {
    throw new BadRequestError('fromBranch and toBranch must differ', 'invalid_branch');
  }
  return em.transactional(async (tx) => {
    // Holds off a concurrent repo delete until this commits (or sees it gone): nothing new
    // may appear under a repo after its delete's cascade has run.
    if (!(await lockLiveRepo(tx, repoId))) throw repoNotFound();
    const proposal = tx.create(ProposalSchema, {
      proposalId: randomUUID(),
      repoId,
      number: await nextNumber(tx, 'musehub_proposals', repoId),
      title: input.title,
      body: input.body ?? '',
      fromBranch: input.fromBranch,
      toBranch,
      authorUserId: user!.userId,
    });
    await tx.flush();
    await enqueueEvent(tx, repoId, 'proposal.opened', {
      repo: repoRef(repo),
      proposal: {
        number: proposal.number,
        title: proposal.title,
        fromBranch: proposal.fromBranch,
        toBranch,
        author: user!.username,
      },
    });
    return proposal;
  });
}

export async function listProposals(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  state: ProposalState | 'all',
  page: PageRequest,
): Promise<Page<Proposal>> {
  await requireRepoAccess(em, user, repoId, 'read');
  return findPage(em, ProposalSchema, state === 'all' ? { repoId } : { repoId, state }, { number: 'desc' }, page);
}

export async function getProposal(em: EntityManager, user: AuthUser | null, repoId: string, number: number) {
  await requireRepoAccess(em, user, repoId, 'read');
  return findProposal(em, repoId, number);
}

/** Title and body: author or writer. Closing and reopening: author or writer. Merging: writers only. */
export async function updateProposal(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  number: number,
  patch: { title?: string | undefined; body?: string | undefined; state?: ProposalState | undefined },
): Promise<Proposal> {
  const { repo, permission } = await requireRepoAccess(em, user, repoId, 'comment');
  return em.transactional(async (tx) => {
    const proposal = await findProposal(tx, repoId, number);
    const isWriter = hasPermission(permission, 'write');
    if (proposal.authorUserId !== user!.userId && !isWriter) {
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
        actor: user!.username,
      });
    }
    await tx.flush();
    return proposal;
  });
}
