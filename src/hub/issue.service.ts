import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { findPage, type Page, type PageRequest } from '../db/pagination.ts';
import { BadRequestError, ForbiddenError, NotFoundError } from '../errors.ts';
import { hasPermission, type Repo, type RepoAccess } from '../repos/index.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import type { AuthUser } from '../users/index.ts';
import { enqueueEvent } from './events.ts';
import { type Issue, IssueLabelSchema, IssueSchema } from './hub.entity.ts';
import { nextNumber } from './numbering.ts';

export type StateFilter = 'open' | 'closed' | 'all';

export interface IssueWithLabels {
  issue: Issue;
  labels: string[];
}

const LABEL = /^[^\x00-\x1f\x7f]{1,50}$/;
export function validateLabels(labels: string[]): string[] {
  const bad = labels.find((l) => !LABEL.test(l) || l.trim() !== l);
  if (bad !== undefined)
    throw new BadRequestError(`invalid label '${bad}': 1-50 printable characters`, 'invalid_label');
  return [...new Set(labels)];
}

export const repoRef = (repo: Repo) => ({ repoId: repo.repoId, owner: repo.owner, slug: repo.slug });

async function labelsOf(em: EntityManager, issueIds: string[]): Promise<Map<string, string[]>> {
  const rows = issueIds.length
    ? await em.find(IssueLabelSchema, { issueId: { $in: issueIds } }, { orderBy: { label: 'asc' } })
    : [];
  const map = new Map<string, string[]>(issueIds.map((id) => [id, []]));
  for (const r of rows) map.get(r.issueId)?.push(r.label);
  return map;
}

export async function findIssue(em: EntityManager, repoId: string, number: number): Promise<Issue> {
  const issue = await em.findOne(IssueSchema, { repoId, number });
  if (!issue) throw new NotFoundError(`issue #${number} not found`, 'issue_not_found');
  return issue;
}

export async function createIssue(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  input: { title: string; body?: string | undefined; labels?: string[] | undefined },
): Promise<IssueWithLabels> {
  const repoId = access.repo.repoId;
  const { repo, permission, user: me } = access;
  const labels = validateLabels(input.labels ?? []);
  if (labels.length && !hasPermission(permission, 'write')) {
    throw new ForbiddenError('you need write permission to label issues', 'insufficient_permission');
  }
  return inLiveRepo(em, repoId, async (tx) => {
    const issue = tx.create(IssueSchema, {
      issueId: randomUUID(),
      repoId,
      number: await nextNumber(tx, 'musehub_issues', repoId),
      title: input.title,
      body: input.body ?? '',
      authorUserId: me.userId,
    });
    // Two flushes: without ORM relations the unit of work cannot order the label rows after the issue.
    await tx.flush();
    for (const label of labels) tx.create(IssueLabelSchema, { issueId: issue.issueId, label, repoId });
    await tx.flush();
    await enqueueEvent(tx, repoId, 'issue.opened', {
      repo: repoRef(repo),
      issue: { number: issue.number, title: issue.title, author: me.username },
    });
    return { issue, labels };
  });
}

export async function listIssues(
  em: EntityManager,
  access: RepoAccess,
  state: StateFilter,
  page: PageRequest,
): Promise<Page<IssueWithLabels>> {
  const repoId = access.repo.repoId;
  const where = state === 'all' ? { repoId } : { repoId, state };
  const result = await findPage(em, IssueSchema, where, { number: 'desc' }, page);
  const labels = await labelsOf(
    em,
    result.items.map((i) => i.issueId),
  );
  return {
    items: result.items.map((issue) => ({ issue, labels: labels.get(issue.issueId) ?? [] })),
    nextCursor: result.nextCursor,
  };
}

/** How many of the repo's issues are open. */
export const countOpenIssues = (em: EntityManager, access: RepoAccess) =>
  em.count(IssueSchema, { repoId: access.repo.repoId, state: 'open' });

export async function getIssue(em: EntityManager, access: RepoAccess, number: number) {
  const repoId = access.repo.repoId;
  const issue = await findIssue(em, repoId, number);
  return { issue, labels: (await labelsOf(em, [issue.issueId])).get(issue.issueId) ?? [] };
}

/** Title, body and state: the author or anyone with write permission. */
export async function updateIssue(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  number: number,
  patch: { title?: string | undefined; body?: string | undefined; state?: 'open' | 'closed' | undefined },
): Promise<IssueWithLabels> {
  const repoId = access.repo.repoId;
  const { repo, permission, user: me } = access;
  return inLiveRepo(em, repoId, async (tx) => {
    const issue = await findIssue(tx, repoId, number);
    if (issue.authorUserId !== me.userId && !hasPermission(permission, 'write')) {
      throw new ForbiddenError(
        'only the author or a collaborator with write permission may edit this issue',
        'insufficient_permission',
      );
    }
    const before = issue.state;
    if (patch.title !== undefined) issue.title = patch.title;
    if (patch.body !== undefined) issue.body = patch.body;
    if (patch.state !== undefined && patch.state !== before) {
      issue.state = patch.state;
      issue.closedAt = patch.state === 'closed' ? new Date() : null;
      await enqueueEvent(tx, repoId, patch.state === 'closed' ? 'issue.closed' : 'issue.reopened', {
        repo: repoRef(repo),
        issue: { number, title: issue.title },
        actor: me.username,
      });
    }
    await tx.flush();
    return { issue, labels: (await labelsOf(tx, [issue.issueId])).get(issue.issueId) ?? [] };
  });
}

export async function addLabels(em: EntityManager, access: RepoAccess<AuthUser>, number: number, labels: string[]) {
  const repoId = access.repo.repoId;
  const wanted = validateLabels(labels);
  return inLiveRepo(em, repoId, async (tx) => {
    const issue = await findIssue(tx, repoId, number);
    if (wanted.length) {
      await tx.upsertMany(
        IssueLabelSchema,
        wanted.map((label) => ({ issueId: issue.issueId, label, repoId, createdAt: new Date() })),
        { onConflictFields: ['issueId', 'label'], onConflictAction: 'ignore' },
      );
    }
    return { issue, labels: (await labelsOf(tx, [issue.issueId])).get(issue.issueId) ?? [] };
  });
}

export async function removeLabel(em: EntityManager, access: RepoAccess<AuthUser>, number: number, label: string) {
  const repoId = access.repo.repoId;
  return inLiveRepo(em, repoId, async (tx) => {
    const issue = await findIssue(tx, repoId, number);
    const removed = await tx.nativeDelete(IssueLabelSchema, { issueId: issue.issueId, label });
    if (!removed) throw new NotFoundError(`issue #${number} has no label '${label}'`, 'label_not_found');
    return { issue, labels: (await labelsOf(tx, [issue.issueId])).get(issue.issueId) ?? [] };
  });
}
