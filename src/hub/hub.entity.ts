import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { createdAt, updatedAt } from '../db/columns.ts';

// As for repos: foreign keys are plain columns, so a filtered parent never silently
// removes a child through an automatic join. Each query states what it needs.

export const IssueSchema = defineEntity({
  name: 'Issue',
  tableName: 'musehub_issues',
  properties: {
    issueId: p.uuid().primary().fieldName('issue_id'),
    repoId: p.uuid().fieldName('repo_id'),
    number: p.integer(),
    title: p.text(),
    body: p.text().default(''),
    state: p.enum(['open', 'closed']).default('open'),
    authorUserId: p.uuid().fieldName('author_user_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    closedAt: p.datetime().fieldName('closed_at').nullable(),
    deletedAt: p.datetime().fieldName('deleted_at').nullable(),
    deletionId: p.uuid().fieldName('deletion_id').nullable(),
  },
  filters: { liveIssues: { name: 'liveIssues', cond: { deletedAt: null }, default: true } },
});
export type Issue = InferEntity<typeof IssueSchema>;

export const IssueCommentSchema = defineEntity({
  name: 'IssueComment',
  tableName: 'musehub_issue_comments',
  properties: {
    commentId: p.uuid().primary().fieldName('comment_id'),
    issueId: p.uuid().fieldName('issue_id'),
    repoId: p.uuid().fieldName('repo_id'),
    authorUserId: p.uuid().fieldName('author_user_id'),
    body: p.text(),
    isDeleted: p.boolean().fieldName('is_deleted').default(false),
    deletionId: p.uuid().fieldName('deletion_id').nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  filters: { liveComments: { name: 'liveComments', cond: { isDeleted: false }, default: true } },
});
export type IssueComment = InferEntity<typeof IssueCommentSchema>;

export const IssueLabelSchema = defineEntity({
  name: 'IssueLabel',
  tableName: 'musehub_issue_labels',
  properties: {
    issueId: p.uuid().primary().fieldName('issue_id'),
    label: p.text().primary(),
    repoId: p.uuid().fieldName('repo_id'),
    createdAt: createdAt(),
  },
});
export type IssueLabel = InferEntity<typeof IssueLabelSchema>;

export const ProposalSchema = defineEntity({
  name: 'Proposal',
  tableName: 'musehub_proposals',
  properties: {
    proposalId: p.uuid().primary().fieldName('proposal_id'),
    repoId: p.uuid().fieldName('repo_id'),
    number: p.integer(),
    title: p.text(),
    body: p.text().default(''),
    fromBranch: p.text().fieldName('from_branch'),
    toBranch: p.text().fieldName('to_branch'),
    state: p.enum(['open', 'closed', 'merged']).default('open'),
    authorUserId: p.uuid().fieldName('author_user_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    closedAt: p.datetime().fieldName('closed_at').nullable(),
    mergedAt: p.datetime().fieldName('merged_at').nullable(),
    deletedAt: p.datetime().fieldName('deleted_at').nullable(),
    deletionId: p.uuid().fieldName('deletion_id').nullable(),
  },
  filters: { liveProposals: { name: 'liveProposals', cond: { deletedAt: null }, default: true } },
});
export type Proposal = InferEntity<typeof ProposalSchema>;

export const ProposalCommentSchema = defineEntity({
  name: 'ProposalComment',
  tableName: 'musehub_proposal_comments',
  properties: {
    commentId: p.uuid().primary().fieldName('comment_id'),
    proposalId: p.uuid().fieldName('proposal_id'),
    repoId: p.uuid().fieldName('repo_id'),
    authorUserId: p.uuid().fieldName('author_user_id'),
    body: p.text(),
    isDeleted: p.boolean().fieldName('is_deleted').default(false),
    deletionId: p.uuid().fieldName('deletion_id').nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  filters: { liveComments: { name: 'liveComments', cond: { isDeleted: false }, default: true } },
});
export type ProposalComment = InferEntity<typeof ProposalCommentSchema>;

export const WebhookSchema = defineEntity({
  name: 'Webhook',
  tableName: 'musehub_webhooks',
  properties: {
    webhookId: p.uuid().primary().fieldName('webhook_id'),
    repoId: p.uuid().fieldName('repo_id'),
    url: p.text(),
    events: p.array().columnType('text[]'),
    secret: p.text().hidden(),
    active: p.boolean().default(true),
    createdBy: p.uuid().fieldName('created_by'),
    deletionId: p.uuid().fieldName('deletion_id').nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
});
export type Webhook = InferEntity<typeof WebhookSchema>;
