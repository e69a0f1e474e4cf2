import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { BadRequestError, GatewayError } from '../errors.ts';
import { CommitSummary, commitLog, commitRecord, headOf, manifestOf, readFile } from '../history/browse.ts';
import { branchHeads } from '../history/history.store.ts';
import { CommentInput } from '../hub/comment.routes.ts';
import { addComment } from '../hub/comment.service.ts';
import { IssueSchema, ProposalSchema } from '../hub/hub.entity.ts';
import { CreateIssue, issuesToJson, PatchIssue } from '../hub/issue.routes.ts';
import { createIssue, getIssue, listIssues, updateIssue } from '../hub/issue.service.ts';
import { CreateProposal, proposalsToJson } from '../hub/proposal.routes.ts';
import { createProposal, getProposal, listProposals, updateProposal } from '../hub/proposal.service.ts';
import type { Logger } from '../logger.ts';
import { requireUser } from '../middleware/auth.ts';
import type { Semaphore } from '../middleware/limits.ts';
import {
  isUuid,
  ownRepoIdByName,
  type RepoAccess,
  repoIdOf,
  requireRepoAccess,
  requireRepoAccessTo,
} from '../repos/access.ts';
import { restoreRepo, softDeleteRepo } from '../repos/delete.service.ts';
import { forkRepo } from '../repos/fork.service.ts';
import { type RepoLivenessCache, repoNameSchema } from '../repos/index.ts';
import { announceNewRepo } from '../repos/live-repo.ts';
import { RepoSchema } from '../repos/repo.entity.ts';
import { CreateRepoSchema, reposToJson } from '../repos/repo.routes.ts';
import { createRepo, readableBy } from '../repos/repo.service.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import type { AuthUser } from '../users/index.ts';

export interface McpDeps {
  orm: MikroORM;
  store: ObjectStore;
  cache: RepoLivenessCache;
  publicUrl: string;
  log: Logger;
  /** Tool and resource calls running at once in this process (routes.ts sizes it). */
  callSlots: Semaphore;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The caller of this request: the HTTP layer authenticated it and passed it in authInfo. */
export const callerOf = (extra: Extra): AuthUser | null =>
  ((extra.authInfo?.extra as { user?: AuthUser | null } | undefined)?.user ?? null) as AuthUser | null;

/** Every tool that names a repo takes one of these two forms, as MuseHub's tools do. */
const RepoRef = {
  repo_id: z.string().max(64).optional().describe('The repo id (a UUID)'),
  owner: z.string().max(64).optional().describe("The owner's username, with slug"),
  slug: z.string().max(128).optional().describe('The repo slug, with owner'),
};
const Limit = z.number().int().min(1).max(100).optional().describe('At most this many (default 30)');
const Number_ = z.number().int().min(1).max(2_147_483_647).describe('The issue or proposal number');
const State = z.enum(['open', 'closed', 'all']).optional().describe('Default: open');
const PrState = z.enum(['open', 'closed', 'merged', 'all']).optional().describe('Default: open');

const Repo = z.looseObject({ repoId: z.string(), owner: z.string(), slug: z.string() });
const Issue = z.looseObject({ number: z.number(), title: z.string(), state: z.string() });
const Proposal = z.looseObject({ number: z.number(), title: z.string(), state: z.string() });

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

/**
 * The hub's tools, with MuseHub's names and argument shapes, over the same services and the same
 * access rule as the REST API: every repo a tool names goes through requireRepoAccessTo
 * (repos/access.ts), so a deleted, private-to-the-caller or never-existing repo is the same tool
 * error, "repo not found", and a write lands before a concurrent delete or not at all (the
 * services write through inLiveRepo).
 */
export function registerTools(server: McpServer, deps: McpDeps): string[] {
  const { orm, cache, publicUrl } = deps;
  const names: string[] = [];

  /** Runs a tool body on its own EntityManager; any error that is not the hub's own reads as internal. */
  function tool<I extends z.ZodRawShape, O extends z.ZodRawShape>(
    name: string,
    config: { title: string; description: string; input: I; output: O; annotations: typeof READ },
    body: (
      args: z.infer<z.ZodObject<I>>,
      ctx: { em: EntityManager; user: AuthUser | null },
    ) => Promise<{ text: string; data: z.infer<z.ZodObject<O>> }>,
  ) {
    names.push(name);
    server.registerTool(
      name,
      {
        title: config.title,
        description: config.description,
        inputSchema: config.input,
        outputSchema: config.output,
        annotations: { title: config.title, ...config.annotations },
      },
      // biome-ignore lint/suspicious/noExplicitAny: the SDK infers argument types from the shape; ours are checked by it
      (async (args: any, extra: Extra) => {
        try {
          const { text, data } = await deps.callSlots.run(() =>
            body(args, { em: orm.em.fork(), user: callerOf(extra) }),
          );
          return { content: [{ type: 'text' as const, text }], structuredContent: data };
        } catch (err) {
          if (err instanceof GatewayError) throw err;
          deps.log.error({ err, tool: name }, 'MCP tool failed');
          throw new Error('internal error');
        }
        // biome-ignore lint/suspicious/noExplicitAny: see above
      }) as any,
    );
  }

  const repoJson = async (em: EntityManager, repo: RepoAccess['repo']) =>
    (await reposToJson(em, [repo], publicUrl))[0]!;

  tool(
    'musehub_whoami',
    {
      title: 'Who am I',
      description: 'The signed-in user behind this session, or anonymous.',
      input: {},
      output: { username: z.string().nullable(), anonymous: z.boolean() },
      annotations: READ,
    },
    async (_args, { user }) => ({
      text: user ? `signed in as ${user.username}` : 'anonymous',
      data: { username: user?.username ?? null, anonymous: !user },
    }),
  );

  tool(
    'musehub_search_repos',
    {
      title: 'Search repos',
      description: 'Repos the caller may read whose name, slug or description contains the query; newest first.',
      input: {
        query: z.string().max(200).optional().describe('Text to look for; empty lists everything visible'),
        owner: z.string().max(64).optional().describe('Only repos of this owner'),
        limit: Limit,
      },
      output: { repos: z.array(Repo) },
      annotations: READ,
    },
    async ({ query, owner, limit }, { em, user }) => {
      const like = query ? `%${query.replace(/[\\%_]/g, (m) => `\\${m}`)}%` : undefined;
      const where = {
        $and: [
          { $or: await readableBy(em, user) },
          owner ? { owner } : {},
          like
            ? { $or: [{ name: { $ilike: like } }, { slug: { $ilike: like } }, { description: { $ilike: like } }] }
            : {},
        ],
      };
      const rows = await em.find(RepoSchema, where, {
        orderBy: { createdAt: 'desc', repoId: 'desc' },
        limit: limit ?? 30,
      });
      const repos = await reposToJson(em, rows, publicUrl);
      return { text: repos.map((r) => `${r.owner}/${r.slug}`).join('\n') || 'no repos', data: { repos } };
    },
  );

  tool(
    'musehub_get_context',
    {
      title: 'Repo context',
      description: 'A repo, its branches and their heads, and how many issues and proposals are open.',
      input: RepoRef,
      output: {
        repo: Repo,
        branches: z.record(z.string(), z.string()),
        openIssues: z.number(),
        openProposals: z.number(),
      },
      annotations: READ,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'read');
      const repoId = a.repo.repoId;
      const [repo, branches, openIssues, openProposals] = await Promise.all([
        repoJson(em, a.repo),
        branchHeads(em.fork(), repoId),
        em.fork().count(IssueSchema, { repoId, state: 'open' }),
        em.fork().count(ProposalSchema, { repoId, state: 'open' }),
      ]);
      const data = { repo, branches, openIssues, openProposals };
      return {
        text: `${repo.owner}/${repo.slug} (${repo.visibility}), ${Object.keys(branches).length} branch(es), ${data.openIssues} open issue(s), ${data.openProposals} open proposal(s)`,
        data,
      };
    },
  );

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

  const CommitId = z.string().regex(/^[0-9a-f]{64}$/, 'expected a commit id (64 hex characters)');
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

  const commentTool = (name: string, thread: 'issue' | 'proposal', what: string) =>
    tool(
      name,
      {
        title: `Comment on ${what}`,
        description: `Adds a comment to ${what} (signed in, able to read the repo).`,
        input: { ...RepoRef, number: Number_, ...CommentInput.shape },
        output: { commentId: z.string(), number: z.number() },
        annotations: WRITE,
      },
      async (args, { em, user }) => {
        const a = await requireRepoAccessTo(em, user, args, 'comment');
        const c = await addComment(em, a, thread, args.number, args.body);
        return { text: `commented on #${args.number}`, data: { commentId: c.commentId, number: args.number } };
      },
    );
  commentTool('musehub_create_issue_comment', 'issue', 'an issue');

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
  commentTool('musehub_create_pr_comment', 'proposal', 'a proposal');

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

  tool(
    'musehub_create_repo',
    {
      title: 'Create a repo',
      description: 'Creates a repo owned by the caller (private unless visibility is public).',
      input: CreateRepoSchema.shape,
      output: { repo: Repo },
      annotations: WRITE,
    },
    async (args, { em, user }) => {
      const repo = await createRepo(em, requireUser(user), args);
      await announceNewRepo(em, cache, repo);
      const json = await repoJson(em, repo);
      return { text: `created ${json.owner}/${json.slug} (${json.visibility}) ${json.cloneUrl}`, data: { repo: json } };
    },
  );

  tool(
    'musehub_fork_repo',
    {
      title: 'Fork a repo',
      description: 'Copies a repo the caller may read into a repo of their own.',
      input: { ...RepoRef, name: repoNameSchema().optional().describe('Default: the parent name') },
      output: { repo: Repo },
      annotations: WRITE,
    },
    async (args, { em, user }) => {
      const a = await requireRepoAccessTo(em, user, args, 'comment');
      const fork = await forkRepo(em, a, { name: args.name });
      const json = await repoJson(em, fork);
      return { text: `forked into ${json.owner}/${json.slug}`, data: { repo: json } };
    },
  );

  /** The owner finds their own repo deleted or not; anyone else goes through the live path. */
  const repoIdForOwnerAction = async (
    em: EntityManager,
    user: AuthUser,
    args: { repo_id?: string | undefined; owner?: string | undefined; slug?: string | undefined },
    prefer: 'live' | 'deleted',
  ) => {
    if (args.repo_id) return args.repo_id;
    if (args.owner && args.slug) {
      const own = await ownRepoIdByName(em, user, args.owner, args.slug, prefer);
      if (own) return own;
    }
    return repoIdOf(em, args);
  };

  tool(
    'musehub_delete_repo',
    {
      title: 'Delete a repo',
      description:
        'Soft-deletes a repo (owner only): it answers as if it never existed until restored; its issues, proposals and comments are kept. Requires confirm = "owner/slug". Deleting a deleted repo succeeds.',
      input: { ...RepoRef, confirm: z.string().max(300).describe('The repo\'s full name, "owner/slug", to confirm') },
      output: { repoId: z.string(), deleted: z.literal(true), alreadyDeleted: z.boolean() },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async (args, { em, user }) => {
      const me = requireUser(user);
      const repoId = await repoIdForOwnerAction(em, me, args, 'live');
      const target = isUuid(repoId) ? await em.findOne(RepoSchema, { repoId }, { filters: false }) : null;
      // Only the owner learns the name of a deleted repo; everyone else meets the live path's answer.
      if (!target || target.ownerUserId !== me.userId) await requireRepoAccess(em, me, repoId, 'read');
      const fullName = target ? `${target.owner}/${target.slug}` : '';
      if (target?.ownerUserId === me.userId && args.confirm !== fullName) {
        throw new BadRequestError(`to delete, pass confirm: "${fullName}"`, 'confirmation_required');
      }
      const result = await softDeleteRepo(em, cache, me, repoId);
      return {
        text: result.alreadyDeleted ? `${fullName} was already deleted` : `deleted ${fullName}`,
        data: { repoId, deleted: true as const, alreadyDeleted: result.alreadyDeleted },
      };
    },
  );

  tool(
    'musehub_restore_repo',
    {
      title: 'Restore a repo',
      description: 'Restores a deleted repo and exactly what its delete tombstoned (owner only).',
      input: RepoRef,
      output: { repo: Repo },
      annotations: { ...WRITE, idempotentHint: true },
    },
    async (args, { em, user }) => {
      const me = requireUser(user);
      const repo = await restoreRepo(em, cache, me, await repoIdForOwnerAction(em, me, args, 'deleted'));
      const json = await repoJson(em, repo);
      return { text: `restored ${json.owner}/${json.slug}`, data: { repo: json } };
    },
  );

  return names;
}
