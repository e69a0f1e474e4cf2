import { z } from 'zod';
import { branchHeads } from '../../history/history.store.ts';
import { requireRepoAccessTo } from '../../repos/access.ts';
import { CommitSummary, commitLog, commitRecord, headOf, manifestOf, readFile } from '../../repos/browse.ts';

import { Limit, type McpDeps, READ, RepoRef, type ToolKit } from '../kit.ts';

/** A repo's history: branches, commits, a commit's files, a file's bytes. */
export function registerHistoryTools({ tool }: ToolKit, deps: Pick<McpDeps, 'store'>) {
  const CommitId = z.string().regex(/^[0-9a-f]{64}$/, 'expected a commit id (64 hex characters)');

  tool(
    'musehub_list_branches',
    {
      title: 'List branches',
      description: "A repo's branches and the commit each points at.",
      input: RepoRef,
      output: { branches: z.array(z.object({ name: z.string(), head: z.string() })) },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const heads = await branchHeads(em, a.repo.repoId);
      const branches = Object.entries(heads).map(([name, head]) => ({ name, head }));
      return { text: branches.map((b) => `${b.name} ${b.head}`).join('\n') || 'no branches', data: { branches } };
    },
  );

  tool(
    'musehub_list_commits',
    {
      title: 'List commits',
      description: 'Commits reachable from a branch head (default branch unless named) or a commit, newest first.',
      input: {
        ...RepoRef,
        branch: z.string().max(255).optional(),
        from: CommitId.optional().describe('Start here instead of a branch head'),
        limit: Limit,
      },
      output: { commits: z.array(CommitSummary) },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const from = args.from ?? (await headOf(em, a, args.branch));
      const commits = await commitLog(em, a, from, args.limit ?? 30);
      return {
        text: commits.map((c) => `${c.commit_id.slice(0, 12)} ${c.message.split('\n')[0]}`).join('\n') || 'no commits',
        data: { commits },
      };
    },
  );

  tool(
    'musehub_get_commit',
    {
      title: 'Get a commit',
      description: 'One commit as it was pushed, with the files of its snapshot (path → object id).',
      input: { ...RepoRef, commit_id: CommitId },
      output: { commit: z.record(z.string(), z.unknown()), files: z.record(z.string(), z.string()) },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const commit = await commitRecord(em, a, args.commit_id);
      const files = await manifestOf(em, a, commit);
      return {
        text: `${args.commit_id.slice(0, 12)} ${String(commit.message ?? '')} (${Object.keys(files).length} file(s))`,
        data: { commit, files },
      };
    },
  );

  tool(
    'musehub_read_file',
    {
      title: 'Read a file',
      description: `A file of a branch head (default branch unless named) or of a commit: UTF-8 text, or base64 for other bytes; at most 1 MiB.`,
      input: {
        ...RepoRef,
        path: z.string().min(1).max(4096),
        branch: z.string().max(255).optional(),
        commit_id: CommitId.optional(),
      },
      output: {
        path: z.string(),
        object_id: z.string(),
        size: z.number(),
        encoding: z.enum(['utf-8', 'base64']),
        content: z.string(),
      },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const commit = await commitRecord(em, a, args.commit_id ?? (await headOf(em, a, args.branch)));
      const file = await readFile(deps.store, await manifestOf(em, a, commit), args.path);
      return { text: file.encoding === 'utf-8' ? file.content : `(${file.size} bytes, base64)`, data: file };
    },
  );
}
