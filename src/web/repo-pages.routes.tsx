import { GatewayError, NotFoundError, UnauthorizedError } from '../errors.ts';
import { commitLog, commitRecord, folderOf, manifestOf } from '../history/browse.ts';
import { branchHeads, objectSizes } from '../history/history.store.ts';
import { listComments } from '../hub/comment.service.ts';
import { issuesToJson } from '../hub/issue.routes.ts';
import { getIssue, listIssues } from '../hub/issue.service.ts';
import { proposalsToJson } from '../hub/proposal.routes.ts';
import { listProposals } from '../hub/proposal.service.ts';
import { isUuid, type Need, type RepoAccess, requireRepoAccessTo } from '../repos/access.ts';
import { listDeletedRepos, restoreRepo, softDeleteRepo } from '../repos/delete.service.ts';
import { listReposOwnedBy } from '../repos/repo.service.ts';
import { usernamesById } from '../users/index.ts';
import type { PageContext, PageDeps, PageKit } from './kit.routes.tsx';
import { DeletedReposPage, SettingsPage, UserPage } from './views/account.views.tsx';
import { IssuePage, IssuesPage, ProposalsPage } from './views/hub.views.tsx';
import { CommitsPage, RepoHomePage, type RepoView } from './views/repo.views.tsx';

const LIST_LIMIT = 100;

/** A live repo by name that the viewer may `need`; anything else throws the repo 404. */
async function repoFor(c: PageContext, need: Need): Promise<{ access: RepoAccess; view: RepoView }> {
  const em = c.var.em;
  const ref = { owner: c.req.param('owner'), slug: c.req.param('slug') };
  const access = await requireRepoAccessTo(em, c.get('user'), ref, need);
  const { repo } = access;
  return {
    access,
    view: {
      owner: repo.owner,
      slug: repo.slug,
      name: repo.name,
      description: repo.description,
      visibility: repo.visibility,
      defaultBranch: repo.defaultBranch,
      isAdmin: access.permission === 'admin',
      isOwner: access.user?.userId === repo.ownerUserId,
    },
  };
}

/** The branch a page shows: ?branch=, else the default one, else any; null for an empty repo. */
async function branchOf(c: PageContext, access: RepoAccess) {
  const heads = await branchHeads(c.var.em, access.repo.repoId);
  const branches = Object.keys(heads).sort();
  const asked = c.req.query('branch');
  if (asked !== undefined && !heads[asked]) throw new NotFoundError(`branch '${asked}' not found`, 'branch_not_found');
  const branch = asked ?? (heads[access.repo.defaultBranch] ? access.repo.defaultBranch : (branches[0] ?? null));
  return { branches, branch, head: branch === null ? null : heads[branch]! };
}

/**
 * A user's repos, a repo's files, commits, issues and proposals, its settings with the
 * typed-confirmation delete, and the owner's deleted repos with Restore. Every repo page resolves
 * its repo through requireRepoAccessTo (repoFor), the rule the REST API and MCP use.
 */
export function repoPages(kit: PageKit, deps: Pick<PageDeps, 'cache' | 'publicUrl'>) {
  const { get, post, html, chromeOf } = kit;
  const { cache } = deps;

  get('/settings/deleted-repos', async (c) => {
    const user = c.get('user');
    if (!user) throw new UnauthorizedError();
    const repos = await listDeletedRepos(c.var.em, user, LIST_LIMIT);
    return html(c, <DeletedReposPage chrome={chromeOf(c)} repos={repos} />);
  });

  post('/settings/deleted-repos/:repo_id/restore', async (c) => {
    const user = c.get('user');
    if (!user) throw new UnauthorizedError();
    const repoId = c.req.param('repo_id') ?? '';
    if (!isUuid(repoId)) throw new NotFoundError('repo not found', 'repo_not_found');
    try {
      const repo = await restoreRepo(c.var.em, cache, user, repoId);
      return c.redirect(`/${repo.owner}/${repo.slug}`, 303);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.status !== 409) throw err;
      // The name was taken meanwhile: say so, and offer nothing that would change the live repo.
      const repos = await listDeletedRepos(c.var.em, user, LIST_LIMIT);
      return html(c, <DeletedReposPage chrome={chromeOf(c)} repos={repos} error={err.detail} />, 409);
    }
  });

  get('/:owner', async (c) => {
    const page = await listReposOwnedBy(c.var.em, c.get('user'), c.req.param('owner') ?? '', { limit: LIST_LIMIT });
    const repos = page.items.map((r) => ({ ...r, updatedAt: r.updatedAt.toISOString() }));
    return html(c, <UserPage chrome={chromeOf(c)} username={c.req.param('owner') ?? ''} repos={repos} />);
  });

  get('/:owner/:slug', async (c) => {
    const { access, view } = await repoFor(c, 'read');
    const em = c.var.em;
    const { branches, branch, head } = await branchOf(c, access);
    const cloneUrl = `${deps.publicUrl}/${view.owner}/${view.slug}`;
    if (branch === null || head === null) {
      const listing = { path: '', dirs: [], files: [] };
      const page = (
        <RepoHomePage
          chrome={chromeOf(c)}
          repo={view}
          cloneUrl={cloneUrl}
          branches={[]}
          branch={null}
          listing={listing}
          commits={[]}
        />
      );
      return html(c, page);
    }
    const manifest = await manifestOf(em, access, await commitRecord(em, access, head));
    const path = c.req.query('path') ?? '';
    const folder = path === '' || path.endsWith('/') ? folderOf(manifest, path) : null;
    if (!folder) throw new NotFoundError(`no folder '${path}' on ${branch}`, 'file_not_found');
    const sizes = await objectSizes(
      em,
      access.repo.repoId,
      folder.files.map((f) => f.objectId),
    );
    const listing = { ...folder, files: folder.files.map((f) => ({ ...f, size: sizes.get(f.objectId) ?? null })) };
    const commits = await commitLog(em, access, head, 5);
    const page = (
      <RepoHomePage
        chrome={chromeOf(c)}
        repo={view}
        cloneUrl={cloneUrl}
        branches={branches}
        branch={branch}
        listing={listing}
        commits={commits}
      />
    );
    return html(c, page);
  });

  get('/:owner/:slug/commits', async (c) => {
    const { access, view } = await repoFor(c, 'read');
    const { branches, branch, head } = await branchOf(c, access);
    const commits = head === null ? [] : await commitLog(c.var.em, access, head, 50);
    const page = <CommitsPage chrome={chromeOf(c)} repo={view} branches={branches} branch={branch} commits={commits} />;
    return html(c, page);
  });

  const stateOf = <S extends string>(c: PageContext, states: readonly S[]): S => {
    const asked = c.req.query('state') as S | undefined;
    return asked && states.includes(asked) ? asked : states[0]!;
  };

  get('/:owner/:slug/issues', async (c) => {
    const { access, view } = await repoFor(c, 'read');
    const state = stateOf(c, ['open', 'closed', 'all'] as const);
    const page = await listIssues(c.var.em, access, state, { limit: LIST_LIMIT });
    const issues = await issuesToJson(c.var.em, page.items);
    return html(c, <IssuesPage chrome={chromeOf(c)} repo={view} state={state} issues={issues} />);
  });

  get('/:owner/:slug/issues/:number', async (c) => {
    const number = Number(c.req.param('number'));
    if (!Number.isSafeInteger(number) || number < 1) throw new NotFoundError('issue not found', 'issue_not_found');
    const { access, view } = await repoFor(c, 'read');
    const em = c.var.em;
    const [issue] = await issuesToJson(em, [await getIssue(em, access, number)]);
    const comments = (await listComments(em, access, 'issue', number, { limit: LIST_LIMIT })).items;
    const names = await usernamesById(
      em,
      comments.map((m) => m.authorUserId),
    );
    const lines = comments.map((m) => ({
      author: names.get(m.authorUserId) ?? '',
      body: m.body,
      createdAt: m.createdAt.toISOString(),
    }));
    return html(c, <IssuePage chrome={chromeOf(c)} repo={view} issue={issue!} comments={lines} />);
  });

  get('/:owner/:slug/proposals', async (c) => {
    const { access, view } = await repoFor(c, 'read');
    const state = stateOf(c, ['open', 'closed', 'merged', 'all'] as const);
    const page = await listProposals(c.var.em, access, state, { limit: LIST_LIMIT });
    const proposals = await proposalsToJson(c.var.em, page.items);
    return html(c, <ProposalsPage chrome={chromeOf(c)} repo={view} state={state} proposals={proposals} />);
  });

  get('/:owner/:slug/settings', async (c) => {
    const { view } = await repoFor(c, 'admin');
    return html(c, <SettingsPage chrome={chromeOf(c)} repo={view} />);
  });

  post('/:owner/:slug/settings/delete', async (c, form) => {
    const { access, view } = await repoFor(c, 'admin');
    const fullName = `${view.owner}/${view.slug}`;
    if ((form.confirm ?? '').trim() !== fullName) {
      const error = `Type ${fullName} exactly to confirm. Nothing was deleted.`;
      return html(c, <SettingsPage chrome={chromeOf(c)} repo={view} error={error} />, 400);
    }
    await softDeleteRepo(c.var.em, cache, access.user!, access.repo.repoId);
    return c.redirect('/settings/deleted-repos', 303);
  });
}
