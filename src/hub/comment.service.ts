import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { hasPermission, type RepoAccess } from '../repos/index.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import type { AuthUser } from '../users/index.ts';
import { enqueueEvent } from './events.ts';
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

const THREADS = {
  issue: {
    schema: IssueCommentSchema,
    parentKey: 'issueId',
    find: async (em: EntityManager, repoId: string, n: number) => (await findIssue(em, repoId, n)).issueId,
    event: 'issue_comment.created',
  },
  proposal: {
    schema: ProposalCommentSchema,
    parentKey: 'proposalId',
    find: async (em: EntityManager, repoId: string, n: number) => (await findProposal(em, repoId, n)).proposalId,
    event: 'proposal_comment.created',
  },
} as const;

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
    const parentId = await t.find(tx, repoId, number);
    const data = { commentId: randomUUID(), [t.parentKey]: parentId, repoId, authorUserId: me.userId, body };
    // biome-ignore lint/suspicious/noExplicitAny: the parent key differs per thread kind
    const comment = tx.create(t.schema as any, data as any) as CommentRecord;
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
  const parentId = await t.find(em, repoId, number);
  // Oldest first, as conversations read. The default filter hides deleted comments.
  return findPage(
    em,
    // biome-ignore lint/suspicious/noExplicitAny: see above
    t.schema as any,
    { [t.parentKey]: parentId },
    { createdAt: 'asc', commentId: 'asc' },
    page,
  ) as Promise<Page<CommentRecord>>;
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
    const parentId = await t.find(tx, repoId, number);
    const comment = /^[0-9a-f-]{36}$/i.test(commentId)
      ? // biome-ignore lint/suspicious/noExplicitAny: see above
        ((await tx.findOne(t.schema as any, { commentId, [t.parentKey]: parentId })) as
          | (CommentRecord & { isDeleted: boolean })
          | null)
      : null;
    if (!comment) throw new NotFoundError('comment not found', 'comment_not_found');
    if (comment.authorUserId !== me.userId && !hasPermission(permission, 'admin')) {
      throw new ForbiddenError('only the author or a repo admin may delete this comment', 'insufficient_permission');
    }
    comment.isDeleted = true;
    await tx.flush();
  });
}
