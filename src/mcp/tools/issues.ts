import { z } from 'zod';
import { issuesToJson } from '../../hub/issue.json.ts';
import { CreateIssue, PatchIssue } from '../../hub/issue.schema.ts';
import { createIssue, getIssue, listIssues, updateIssue } from '../../hub/issue.service.ts';
import { requireRepoAccessTo } from '../../repos/access.ts';

import { Issue, Limit, Number_, READ, RepoRef, State, type ToolKit, WRITE } from '../kit.ts';

/** Issues and their comments. */
export function registerIssueTools({ tool }: ToolKit) {
  tool(
    'musehub_list_issues',
    {
      title: 'List issues',
      description: "A repo's issues, newest first.",
      input: { ...RepoRef, state: State, limit: Limit },
      output: { issues: z.array(Issue) },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const { items } = await listIssues(em, a, args.state ?? 'open', { limit: args.limit ?? 30, cursor: undefined });
      const issues = await issuesToJson(em, items);
      return { text: issues.map((i) => `#${i.number} ${i.title}`).join('\n') || 'no issues', data: { issues } };
    },
  );

  tool(
    'musehub_get_issue',
    {
      title: 'Get an issue',
      description: 'One issue of a repo, by number.',
      input: { ...RepoRef, number: Number_ },
      output: { issue: Issue },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const [issue] = await issuesToJson(em, [await getIssue(em, a, args.number)]);
      return { text: `#${issue!.number} ${issue!.title} (${issue!.state})`, data: { issue: issue! } };
    },
  );

  tool(
    'musehub_create_issue',
    {
      title: 'Create an issue',
      description: 'Opens an issue on a repo the caller may read (signed in).',
      input: { ...RepoRef, ...CreateIssue.shape },
      output: { issue: Issue },
      annotations: WRITE,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'comment');
      const [issue] = await issuesToJson(em, [await createIssue(em, a, args)]);
      return { text: `opened #${issue!.number} ${issue!.title}`, data: { issue: issue! } };
    },
  );

  tool(
    'musehub_update_issue',
    {
      title: 'Update an issue',
      description: "Edits an issue's title or body, or closes or reopens it (its author, or write permission).",
      input: { ...RepoRef, number: Number_, ...PatchIssue.shape },
      output: { issue: Issue },
      annotations: { ...WRITE, idempotentHint: true },
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'comment');
      const [issue] = await issuesToJson(em, [await updateIssue(em, a, args.number, args)]);
      return { text: `#${issue!.number} ${issue!.title} (${issue!.state})`, data: { issue: issue! } };
    },
  );
}
