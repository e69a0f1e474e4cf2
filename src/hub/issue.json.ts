import { usernamesById } from '../users/index.ts';
import type { IssueWithLabels } from './issue.service.ts';

/** Issues as REST, MCP and the pages show them, their authors' names read in one query. */
export async function issuesToJson(em: Parameters<typeof usernamesById>[0], rows: IssueWithLabels[]) {
  const names = await usernamesById(
    em,
    rows.map((r) => r.issue.authorUserId),
  );
  return rows.map(({ issue, labels }) => ({
    issueId: issue.issueId,
    repoId: issue.repoId,
    number: issue.number,
    title: issue.title,
    body: issue.body,
    state: issue.state,
    author: names.get(issue.authorUserId) ?? '',
    labels,
    createdAt: issue.createdAt.toISOString(),
    updatedAt: issue.updatedAt.toISOString(),
    closedAt: issue.closedAt?.toISOString() ?? null,
  }));
}
