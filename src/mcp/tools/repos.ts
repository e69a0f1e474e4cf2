import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { BadRequestError } from '../../errors.ts';
import { branchHeads } from '../../history/history.store.ts';
import { countOpenIssues } from '../../hub/issue.service.ts';
import { countOpenProposals } from '../../hub/proposal.service.ts';
import { requireUser } from '../../middleware/auth.ts';
import { type RepoRef as RepoRefArgs, requireOwnership, requireRepoAccessTo } from '../../repos/access.ts';
import { restoreRepo, softDeleteRepo } from '../../repos/delete.service.ts';
import { forkRepo } from '../../repos/fork.service.ts';
import { repoNameSchema } from '../../repos/index.ts';
import { announceNewRepo } from '../../repos/live-repo.ts';
import { purgeDeletedRepo } from '../../repos/purge.service.ts';
import { reposToJson } from '../../repos/repo.json.ts';
import { CreateRepoSchema } from '../../repos/repo.schema.ts';
import { createRepo, searchRepos } from '../../repos/repo.service.ts';
import { updateRepoSettings } from '../../repos/settings.service.ts';
import type { AuthUser } from '../../users/index.ts';

import { Limit, type McpDeps, READ, Repo, RepoRef, type ToolKit, WRITE } from '../kit.ts';

/** Repos: who the caller is, search, a repo's context, create, fork, delete and restore. */
export function registerRepoTools({ tool, repoJson }: ToolKit, deps: McpDeps) {
  const { cache, publicUrl } = deps;
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
      const rows = await searchRepos(em, user, { query, owner, limit: limit ?? 30 });
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
        countOpenIssues(em.fork(), a),
        countOpenProposals(em.fork(), a),
      ]);
      const data = { repo, branches, openIssues, openProposals };
      return {
        text: `${repo.owner}/${repo.slug} (${repo.visibility}), ${Object.keys(branches).length} branch(es), ${data.openIssues} open issue(s), ${data.openProposals} open proposal(s)`,
        data,
      };
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
      const { owner, fullName } = await confirmedOwnership(em, user, args, 'delete');
      const result = await softDeleteRepo(em, cache, owner);
      return {
        text: result.alreadyDeleted ? `${fullName} was already deleted` : `deleted ${fullName}`,
        data: { repoId: owner.repo.repoId, deleted: true as const, alreadyDeleted: result.alreadyDeleted },
      };
    },
  );

  tool(
    'musehub_update_repo',
    {
      title: 'Rename a repo or change its description or visibility',
      description:
        "Owner or admin. A new name gives the repo a new slug; its old name keeps leading to it (remotes keep working) until another repo takes it. visibility 'private' hides it from everyone without access at once.",
      input: {
        ...RepoRef,
        name: repoNameSchema().optional().describe('The new name'),
        description: z.string().max(2000).optional(),
        visibility: z.enum(['public', 'private']).optional(),
      },
      output: { repo: Repo },
      annotations: { ...WRITE, idempotentHint: true },
    },
    async ({ name, description, visibility, ...ref }, { em, user }) => {
      const access = await requireRepoAccessTo(em, user, ref, 'admin');
      const repo = await updateRepoSettings(em, cache, access, { name, description, visibility });
      const json = await repoJson(em, repo);
      return { text: `${json.owner}/${json.slug} (${json.visibility}) updated`, data: { repo: json } };
    },
  );

  tool(
    'musehub_restore_repo',
    {
      title: 'Restore a repo',
      description:
        'Restores a deleted repo and exactly what its delete tombstoned (owner only). An error when the repo is not deleted, or when a live repo has its name (rename that one first with musehub_update_repo).',
      input: RepoRef,
      output: { repo: Repo },
      annotations: WRITE,
    },
    async (args, { em, user }) => {
      const repo = await restoreRepo(em, cache, await requireOwnership(em, user, args, 'restore'));
      const json = await repoJson(em, repo);
      return { text: `restored ${json.owner}/${json.slug}`, data: { repo: json } };
    },
  );

  tool(
    'musehub_purge_repo',
    {
      title: 'Delete a repo permanently',
      description:
        'Removes an already-deleted repo for good (owner only): it can no longer be restored and its name stays free. The most recently deleted repo by that name. Requires confirm = "owner/slug".',
      input: { ...RepoRef, confirm: z.string().max(300).describe('The repo\'s full name, "owner/slug", to confirm') },
      output: {
        purged: z.array(
          z.object({
            repoId: z.string(),
            owner: z.string(),
            slug: z.string(),
            unreferenced: z.object({ objects: z.number(), bytes: z.number() }),
          }),
        ),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    async (args, { em, user }) => {
      const { owner } = await confirmedOwnership(em, user, args, 'purge');
      const purged = (await purgeDeletedRepo(em, owner)).map(({ repoId, owner, slug, unreferenced }) => ({
        repoId,
        owner,
        slug,
        unreferenced,
      }));
      return { text: `purged ${purged.map((p) => `${p.owner}/${p.slug}`).join(', ')}`, data: { purged } };
    },
  );
}

/** The owner's repo for a destructive tool, once `confirm` is its full name (typed, as on the pages). */
async function confirmedOwnership(
  em: EntityManager,
  user: AuthUser | null,
  args: RepoRefArgs & { confirm: string },
  verb: 'delete' | 'purge',
) {
  const owner = await requireOwnership(em, user, args, verb);
  const fullName = `${owner.repo.owner}/${owner.repo.slug}`;
  if (args.confirm !== fullName) {
    throw new BadRequestError(`to ${verb}, pass confirm: "${fullName}"`, 'confirmation_required');
  }
  return { owner, fullName };
}
