import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { hasPermission, type RepoAccess } from '../repos/index.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import type { AuthUser } from '../users/index.ts';
import { enqueueEvent, type WebhookEvent } from './events.ts';
import { IssueCommentSchema, ProposalCommentSchema } from './hub.entity.ts';
import { findIssue, repoRef } from './issue.service.ts';
import { findProposal } from './proposal.service.ts';

/** Issues and proposals carry comments the same way; only the tables differ. */
export type Thread = 'issue' | 'proposal';

export interface CommentRecord {
  commentId: string;
  repoId: string;
  authorUserId: string;
  body: string;
  createdAt: Date;
  updatedAt: Date;
}

interface NewComment {
  commentId: string;
  repoId: string;
  authorUserId: string;
  body: string;
}

/** Oldest first, as conversations read. The default filter hides deleted comments. */
const OLDEST_FIRST = { createdAt: 'asc', commentId: 'asc' } as const;

/** What differs between an issue's thread and a proposal's: the tables, the parent key, the event. */
interface ThreadKind {
  parentId(em: EntityManager, repoId: string, number: number): Promise<string>;
  create(em: EntityManager, parentId: string, comment: NewComment): CommentRecord;
  page(em: EntityManager, parentId: string, page: PageRequest): Promise<Page<CommentRecord>>;
  find(
    em: EntityManager,
    parentId: string,
    commentId: string,
  ): Promise<(CommentRecord & { isDeleted: boolean }) | null>;
  event: WebhookEvent;
}

const THREADS: Record<Thread, ThreadKind> = {
  issue: {
    parentId: async (em, repoId, n) => (await findIssue(em, repoId, n)).issueId,
    create: (em, issueId, comment) => em.create(IssueCommentSchema, { ...comment, issueId }),
    page: (em, issueId, page) => findPage(em, IssueCommentSchema, { issueId }, OLDEST_FIRST, page),
    find: (em, issueId, commentId) => em.findOne(IssueCommentSchema, { commentId, issueId }),
    event: 'issue_comment.created',
  },
  proposal: {
    parentId: async (em, repoId, n) => (await findProposal(em, repoId, n)).proposalId,
    create: (em, proposalId, comment) => em.create(ProposalCommentSchema, { ...comment, proposalId }),
    page: (em, proposalId, page) => findPage(em, ProposalCommentSchema, { proposalId }, OLDEST_FIRST, page),
    find: (em, proposalId, commentId) => em.findOne(ProposalCommentSchema, { commentId, proposalId }),
    event: 'proposal_comment.created',
  },
};

export async function addComment(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  thread: Thread,
  number: number,
  body: string,
): Promise<CommentRecord> {
  const repoId = access.repo.repoId;
  const t = THREADS[thread];
  const { repo, user: me } = access;
  return inLiveRepo(em, repoId, async (tx) => {
    const parentId = await t.parentId(tx, repoId, number);
    const comment = t.create(tx, parentId, { commentId: randomUUID(), repoId, authorUserId: me.userId, body });
    await tx.flush();
    await enqueueEvent(tx, repoId, t.event, {
      repo: repoRef(repo),
      [thread]: { number },
      comment: { commentId: comment.commentId, author: me.username, body },
    });
    return comment;
  });
}

export async function listComments(
  em: EntityManager,
  access: RepoAccess,
  thread: Thread,
  number: number,
  page: PageRequest,
): Promise<Page<CommentRecord>> {
  const repoId = access.repo.repoId;
  const t = THREADS[thread];
  return t.page(em, await t.parentId(em, repoId, number), page);
}

/** Soft-deletes a comment: its author or a repo admin. */
export async function deleteComment(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  thread: Thread,
  number: number,
  commentId: string,
): Promise<void> {
  const repoId = access.repo.repoId;
  const t = THREADS[thread];
  const { permission, user: me } = access;
  await inLiveRepo(em, repoId, async (tx) => {
    const parentId = await t.parentId(tx, repoId, number);
    const comment = /^[0-9a-f-]{36}$/i.test(commentId) ? await t.find(tx, parentId, commentId) : null;
    if (!comment) throw new NotFoundError('comment not found', 'comment_not_found');
    if (comment.authorUserId !== me.userId && !hasPermission(permission, 'admin')) {
      throw new ForbiddenError('only the author or a repo admin may delete this comment', 'insufficient_permission');
    }
    comment.isDeleted = true;
    await tx.flush();
  });
}
