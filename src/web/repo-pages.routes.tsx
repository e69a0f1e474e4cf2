import { BadRequestError, GatewayError, UnauthorizedError } from '../errors.ts';
import { issuesToJson } from '../hub/issue.json.ts';
import { listIssues } from '../hub/issue.service.ts';
import { proposalsToJson } from '../hub/proposal.json.ts';
import { listProposals } from '../hub/proposal.service.ts';
import { requireUser } from '../middleware/auth.ts';
import {
  type Need,
  type RepoAccess,
  redirectIfRenamed,
  requireOwnership,
  requireRepoAccessTo,
} from '../repos/access.ts';
import { chooseBranch, commitLog, repoHome } from '../repos/browse.ts';
import { listDeletedRepos, restoreRepo, softDeleteRepo } from '../repos/delete.service.ts';
import { announceNewRepo } from '../repos/live-repo.ts';
import { repoNameSchema } from '../repos/names.ts';
import { purgeDeletedRepo } from '../repos/purge.service.ts';
import type { Repo } from '../repos/repo.entity.ts';
import { createRepo, listReposOwnedBy } from '../repos/repo.service.ts';
import { type RepoSettings, updateRepoSettings } from '../repos/settings.service.ts';
import type { PageContext, PageDeps, PageKit } from './kit.routes.tsx';
import { DeletedReposPage, NewRepoPage, type SettingsForm, SettingsPage, UserPage } from './views/account.views.tsx';
import { IssuesPage, ProposalsPage } from './views/hub.views.tsx';
import { CommitsPage, RepoHomePage, type RepoView } from './views/repo.views.tsx';

const LIST_LIMIT = 100;

/** A live repo by name that the viewer may `need`; anything else throws the repo 404. */
export async function repoFor(c: PageContext, need: Need): Promise<{ access: RepoAccess; view: RepoView }> {
  const em = c.var.em;
  const ref = { owner: c.req.param('owner'), slug: c.req.param('slug') };
  const access = await requireRepoAccessTo(em, c.get('user'), ref, need);
  const { repo } = access;
  if (c.req.method === 'GET') {
    redirectIfRenamed(ref, repo, (now) => {
      const url = new URL(c.req.url);
      const rest = url.pathname.split('/').slice(3).join('/');
      return `/${now.owner}/${now.slug}${rest ? `/${rest}` : ''}${url.search}`;
    });
  }
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
      canWrite: access.permission === 'write' || access.permission === 'admin',
      canComment: access.user !== null,
    },
  };
}

/** The branch a page shows: ?branch=, else the default one, else any; null for an empty repo. */
const branchOf = (c: PageContext, access: RepoAccess) => chooseBranch(c.var.em, access, c.req.query('branch'));

/**
 * A user's repos, a repo's files, commits, issues and proposals, its settings with the
 * typed-confirmation delete, and the owner's deleted repos with Restore. Every repo page resolves
 * its repo through requireRepoAccessTo (repoFor), the rule the REST API and MCP use.
 */
export function repoPages(kit: PageKit, deps: Pick<PageDeps, 'cache' | 'publicUrl' | 'retentionDays'>) {
  const { get, post, html, chromeOf, redirectWithFlash } = kit;
  const { cache } = deps;

  get('/settings/deleted-repos', async (c) => {
    const user = c.get('user');
    if (!user) throw new UnauthorizedError();
    const repos = await listDeletedRepos(c.var.em, user, LIST_LIMIT, deps.retentionDays);
    return html(c, <DeletedReposPage chrome={chromeOf(c)} repos={repos} />);
  });

  post('/settings/deleted-repos/:repo_id/restore', async (c) => {
    const owner = await requireOwnership(c.var.em, c.get('user'), { repo_id: c.req.param('repo_id') ?? '' }, 'restore');
    try {
      const repo = await restoreRepo(c.var.em, cache, owner);
      return redirectWithFlash(c, `/${repo.owner}/${repo.slug}`, `Restored ${repo.owner}/${repo.slug}.`);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.status !== 409) throw err;
      // The name was taken meanwhile: say so, and offer nothing that would change the live repo.
      const repos = await listDeletedRepos(c.var.em, owner.user, LIST_LIMIT, deps.retentionDays);
      return html(c, <DeletedReposPage chrome={chromeOf(c)} repos={repos} error={err.detail} />, 409);
    }
  });

  post('/settings/deleted-repos/:repo_id/purge', async (c, form) => {
    const owner = await requireOwnership(c.var.em, c.get('user'), { repo_id: c.req.param('repo_id') ?? '' }, 'purge');
    const fullName = `${owner.repo.owner}/${owner.repo.slug}`;
    const again = async (error: string, status: 400 | 409) => {
      const repos = await listDeletedRepos(c.var.em, owner.user, LIST_LIMIT, deps.retentionDays);
      return html(c, <DeletedReposPage chrome={chromeOf(c)} repos={repos} error={error} />, status);
    };
    if ((form.confirm ?? '').trim() !== fullName)
      return again(`Type ${fullName} exactly to confirm. Nothing was purged.`, 400);
    try {
      await purgeDeletedRepo(c.var.em, owner);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.status !== 409) throw err;
      return again(err.detail, 409);
    }
    return c.redirect('/settings/deleted-repos', 303);
  });

  get('/new', async (c) => {
    if (!c.get('user')) throw new UnauthorizedError();
    return html(c, <NewRepoPage chrome={chromeOf(c)} />);
  });

  post('/new', async (c, form) => {
    const user = c.get('user');
    if (!user) throw new UnauthorizedError();
    try {
      const visibility = form.visibility === 'public' ? 'public' : 'private';
      const description = form.description ?? '';
      if (description.length > 2000) throw new BadRequestError('the description is longer than 2,000 characters');
      const name = repoNameSchema().safeParse(form.name ?? '');
      if (!name.success) throw new BadRequestError(`name: ${name.error.issues[0]?.message ?? 'invalid'}`);
      const repo = await createRepo(c.var.em, user, { name: name.data, description, visibility });
      await announceNewRepo(c.var.em, cache, repo);
      return redirectWithFlash(
        c,
        `/${repo.owner}/${repo.slug}`,
        `Created ${repo.owner}/${repo.slug}. Push to it with: muse remote add origin ${deps.publicUrl}/${repo.owner}/${repo.slug}`,
      );
    } catch (err) {
      if (!(err instanceof GatewayError) || (err.status !== 400 && err.status !== 409)) throw err;
      const page = <NewRepoPage chrome={chromeOf(c)} values={form} error={`${err.detail}. Nothing was created.`} />;
      return html(c, page, err.status);
    }
  });

  get('/:owner', async (c) => {
    const page = await listReposOwnedBy(c.var.em, c.get('user'), c.req.param('owner') ?? '', { limit: LIST_LIMIT });
    const repos = page.items.map((r) => ({ ...r, updatedAt: r.updatedAt.toISOString() }));
    return html(c, <UserPage chrome={chromeOf(c)} username={c.req.param('owner') ?? ''} repos={repos} />);
  });

  get('/:owner/:slug', async (c) => {
    const { access, view } = await repoFor(c, 'read');
    const home = await repoHome(c.var.em, access, {
      branch: c.req.query('branch'),
      path: c.req.query('path'),
      commits: 5,
    });
    const cloneUrl = `${deps.publicUrl}/${view.owner}/${view.slug}`;
    return html(c, <RepoHomePage chrome={chromeOf(c)} repo={view} cloneUrl={cloneUrl} {...home} />);
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

  /**
   * One settings form: the change through the service the REST API uses; a refusal it explains
   * (400, 409) is shown under the form with nothing changed, success goes back to the settings
   * of the repo as it now is, with a message.
   */
  const settingsForm = (
    name: Exclude<SettingsForm, 'delete'>,
    change: (form: Record<string, string>, fullName: string) => RepoSettings,
    said: (repo: Repo, before: string) => string,
  ) =>
    post(`/:owner/:slug/settings/${name}`, async (c, form) => {
      const { access, view } = await repoFor(c, 'admin');
      const before = `${view.owner}/${view.slug}`;
      let repo: Repo;
      try {
        repo = await updateRepoSettings(
          c.var.em,
          cache,
          { ...access, user: requireUser(access.user) },
          change(form, before),
        );
      } catch (err) {
        if (!(err instanceof GatewayError) || (err.status !== 400 && err.status !== 409)) throw err;
        const error = { form: name, message: `${err.detail}. Nothing was changed.` };
        return html(c, <SettingsPage chrome={chromeOf(c)} repo={view} error={error} />, err.status);
      }
      return redirectWithFlash(c, `/${repo.owner}/${repo.slug}/settings`, said(repo, before));
    });

  settingsForm(
    'rename',
    (form) => ({ name: form.name ?? '' }),
    (repo, before) =>
      `${before} is now ${repo.owner}/${repo.slug}. The old address keeps leading here until another repo takes the name.`,
  );
  settingsForm(
    'description',
    (form) => {
      const description = form.description ?? '';
      if (description.length > 2000) throw new BadRequestError('the description is longer than 2,000 characters');
      return { description };
    },
    () => 'Description saved.',
  );
  settingsForm(
    'visibility',
    (form, fullName) => {
      const visibility = form.visibility;
      if (visibility !== 'public' && visibility !== 'private')
        throw new BadRequestError('visibility is public or private');
      if ((form.confirm ?? '').trim() !== fullName) throw new BadRequestError(`Type ${fullName} exactly to confirm`);
      return { visibility };
    },
    (repo) =>
      repo.visibility === 'private'
        ? `${repo.owner}/${repo.slug} is private: only its owner and collaborators can see it.`
        : `${repo.owner}/${repo.slug} is public: anyone can read and clone it.`,
  );

  post('/:owner/:slug/settings/delete', async (c, form) => {
    const { access, view } = await repoFor(c, 'admin');
    const fullName = `${view.owner}/${view.slug}`;
    if ((form.confirm ?? '').trim() !== fullName) {
      const error = { form: 'delete' as const, message: `Type ${fullName} exactly to confirm. Nothing was deleted.` };
      return html(c, <SettingsPage chrome={chromeOf(c)} repo={view} error={error} />, 400);
    }
    await softDeleteRepo(
      c.var.em,
      cache,
      await requireOwnership(c.var.em, access.user, { repo_id: access.repo.repoId }, 'delete'),
    );
    return redirectWithFlash(
      c,
      '/settings/deleted-repos',
      `Deleted ${fullName}: it is gone for everyone. Restore it below, with its issues and proposals.`,
    );
  });
}
