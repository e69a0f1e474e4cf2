import { readFileSync } from 'node:fs';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { NONCE, secureHeaders } from 'hono/secure-headers';
import { BadRequestError, GatewayError, NotFoundError, PayloadTooLargeError, UnauthorizedError } from '../errors.ts';
import { commitLog, commitRecord, folderOf, manifestOf } from '../history/browse.ts';
import { branchHeads, objectSizes } from '../history/history.store.ts';
import { listComments } from '../hub/comment.service.ts';
import { issuesToJson } from '../hub/issue.routes.ts';
import { getIssue, listIssues } from '../hub/issue.service.ts';
import { proposalsToJson } from '../hub/proposal.routes.ts';
import { listProposals } from '../hub/proposal.service.ts';
import { handleNotFound } from '../middleware/errors.ts';
import { dbContext } from '../middleware/request-context.ts';
import { type PageEnv, type WebCookies, webSession } from '../middleware/web-session.ts';
import { isUuid, type Need, type RepoAccess, repoIdOf, requireRepoAccess } from '../repos/access.ts';
import { listDeletedRepos, restoreRepo, softDeleteRepo } from '../repos/delete.service.ts';
import type { RepoLivenessCache } from '../repos/index.ts';
import { listReposOwnedBy } from '../repos/repo.service.ts';
import { isUsername, parseToken, type TokenCache, usernamesById } from '../users/index.ts';
import {
  csrfToken,
  endSession,
  newFormSecret,
  openSession,
  peekSignInLink,
  redeemSignInLink,
  SESSION_TTL_MS,
  sameToken,
} from './session.service.ts';
import {
  DeletedReposPage,
  LandingPage,
  LoginPage,
  SettingsPage,
  SignInLinkPage,
  UserPage,
} from './views/account.views.tsx';
import { IssuePage, IssuesPage, ProposalsPage } from './views/hub.views.tsx';
import { type Chrome, MessagePage, NotFoundPage } from './views/layout.tsx';
import { CommitsPage, RepoHomePage, type RepoView } from './views/repo.views.tsx';

export interface PageDeps {
  orm: MikroORM;
  cache: RepoLivenessCache;
  tokens: TokenCache;
  publicUrl: string;
  cookies: WebCookies;
  /** The server's secret: CSRF tokens are HMACs of the session under it. */
  key: Buffer;
}

const STYLESHEET = readFileSync(new URL('./style.css', import.meta.url));
const FORM_LIMIT = 64 * 1024;
const LIST_LIMIT = 100;

type PageContext = Context<PageEnv>;

/**
 * Server-rendered pages for people: sign in, a user's repos, a repo's files, commits, issues and
 * proposals, its settings with the typed-confirmation delete, and the owner's deleted repos with
 * Restore. Every repo page resolves its repo through repoIdOf + requireRepoAccess, the rule the
 * REST API and MCP use, and any refusal to read renders the one NotFoundPage.
 */
export function pageRoutes(deps: PageDeps) {
  const { orm, cache, key, cookies } = deps;
  const app = new Hono<PageEnv>();
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: [NONCE],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      formAction: ["'self'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
    },
    strictTransportSecurity: cookies.secure ? 'max-age=15552000' : false,
    referrerPolicy: 'same-origin',
    xFrameOptions: 'DENY',
  });
  const common = [headers, dbContext(orm), webSession(cookies)] as const;
  const formLimit = bodyLimit({
    maxSize: FORM_LIMIT,
    onError: () => {
      throw new PayloadTooLargeError(`form is larger than ${FORM_LIMIT} bytes`);
    },
  });

  const chromeOf = (c: PageContext, notice?: string): Chrome => {
    const session = c.get('session');
    return {
      user: c.get('user'),
      csrf: session ? csrfToken(key, session) : null,
      nonce: c.get('secureHeadersNonce') ?? '',
      notice:
        notice ??
        (c.get('sessionEnded') ? 'Your session ended (signed out, expired or its token was revoked).' : undefined),
    };
  };

  async function html(c: PageContext, page: JSX.Element, status: 200 | 400 | 403 | 404 | 409 | 410 | 413 = 200) {
    c.header('cache-control', 'no-store');
    return c.html(`<!doctype html>${await page.toString()}`, status);
  }

  /** What a refused or failed page shows: any 404 is the one NotFoundPage; sign-in goes to /login. */
  function refusal(c: PageContext, err: unknown) {
    if (!(err instanceof GatewayError)) throw err;
    const chrome = chromeOf(c);
    if (err.status === 404) return html(c, <NotFoundPage chrome={chrome} />, 404);
    if (err instanceof UnauthorizedError) {
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    const status = ([400, 403, 409, 413] as const).find((s) => s === err.status) ?? 400;
    return html(c, <MessagePage chrome={chrome} title="That did not work" detail={err.detail} />, status);
  }

  /**
   * A first segment that cannot be a username (`/api/…`, `/favicon.ico`) is not a page: it gets
   * the JSON "no such route" it got before the pages existed.
   */
  const notAnOwner = (c: PageContext) => {
    const owner = c.req.param('owner');
    return owner !== undefined && !isUsername(owner);
  };

  function renderPage(handler: (c: PageContext) => Promise<Response>) {
    return async function renderPage(c: PageContext) {
      if (notAnOwner(c)) return handleNotFound(c);
      try {
        return await handler(c);
      } catch (err) {
        return refusal(c, err);
      }
    };
  }

  /**
   * A form post: refused unless it carries the CSRF token of this browser's session (or, for the
   * sign-in forms, the secret of this browser's sign-in cookie). A refused post changes nothing.
   */
  function submitForm(
    handler: (c: PageContext, form: Record<string, string>) => Promise<Response>,
    csrf: 'session' | 'sign-in' = 'session',
  ) {
    return async function submitForm(c: PageContext) {
      if (notAnOwner(c)) return handleNotFound(c);
      try {
        const form = Object.fromEntries(
          Object.entries(await readForm(c)).filter((e): e is [string, string] => typeof e[1] === 'string'),
        );
        const session = c.get('session');
        const expected = csrf === 'sign-in' ? getCookie(c, cookies.login) : session && csrfToken(key, session);
        if (!expected || !sameToken(expected, form.csrf)) {
          const detail = 'This form has expired or was not sent from this site. Reload the page and try again.';
          return html(c, <MessagePage chrome={chromeOf(c)} title="Form refused" detail={detail} />, 403);
        }
        return await handler(c, form);
      } catch (err) {
        return refusal(c, err);
      }
    };
  }

  /** The posted fields; a body that is not a readable form is a 400 (an oversized one stays a 413). */
  async function readForm(c: PageContext) {
    try {
      return await c.req.parseBody();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new BadRequestError('the form could not be read', 'bad_request');
    }
  }

  const get = (path: string, handler: (c: PageContext) => Promise<Response>) =>
    app.get(path, ...common, renderPage(handler));
  const post = (
    path: string,
    handler: (c: PageContext, form: Record<string, string>) => Promise<Response>,
    csrf?: 'session' | 'sign-in',
  ) => app.post(path, ...common, formLimit, submitForm(handler, csrf));

  /** A live repo by name that the viewer may `need`; anything else throws the repo 404. */
  async function repoFor(c: PageContext, need: Need): Promise<{ access: RepoAccess; view: RepoView }> {
    const em = c.var.em;
    const id = await repoIdOf(em, { owner: c.req.param('owner'), slug: c.req.param('slug') });
    const access = await requireRepoAccess(em, c.get('user'), id, need as 'read');
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
    if (asked !== undefined && !heads[asked])
      throw new NotFoundError(`branch '${asked}' not found`, 'branch_not_found');
    const branch = asked ?? (heads[access.repo.defaultBranch] ? access.repo.defaultBranch : (branches[0] ?? null));
    return { branches, branch, head: branch === null ? null : heads[branch]! };
  }

  const setSessionCookie = (c: PageContext, value: string) =>
    setCookie(c, cookies.session, value, {
      path: '/',
      httpOnly: true,
      sameSite: 'Strict',
      secure: cookies.secure,
      maxAge: SESSION_TTL_MS / 1000,
    });
  /** The sign-in forms' double-submitted secret: a cookie only this site's pages can pair with a form. */
  const signInSecret = (c: PageContext) => {
    const existing = getCookie(c, cookies.login);
    if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
    const fresh = newFormSecret();
    // Path / : a __Host- cookie must cover the whole host.
    setCookie(c, cookies.login, fresh, {
      path: '/',
      httpOnly: true,
      sameSite: 'Strict',
      secure: cookies.secure,
      maxAge: 3600,
    });
    return fresh;
  };
  const localPath = (next: string | undefined) =>
    next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : undefined;

  app.get('/-/style.css', (c) =>
    c.body(new Uint8Array(STYLESHEET), 200, {
      'content-type': 'text/css; charset=utf-8',
      'cache-control': 'public, max-age=300',
    }),
  );

  get('/', async (c) => {
    const user = c.get('user');
    if (user) return c.redirect(`/${user.username}`, 303);
    return html(c, <LandingPage chrome={chromeOf(c)} />);
  });

  get('/login', async (c) => {
    const next = localPath(c.req.query('next'));
    const user = c.get('user');
    if (user) return c.redirect(next ?? `/${user.username}`, 303);
    return html(c, <LoginPage chrome={chromeOf(c)} loginCsrf={signInSecret(c)} next={next ?? ''} />);
  });

  post(
    '/login',
    async (c, form) => {
      const next = localPath(form.next);
      const parsed = parseToken((form.token ?? '').trim());
      try {
        if (!parsed) throw new UnauthorizedError();
        const user = await deps.tokens.authenticate((form.token ?? '').trim());
        setSessionCookie(c, await openSession(c.var.em, parsed.tokenId, user));
        deleteCookie(c, cookies.login, { path: '/', secure: cookies.secure });
        return c.redirect(next ?? `/${user.username}`, 303);
      } catch (err) {
        if (!(err instanceof UnauthorizedError)) throw err;
        const error = 'That token is not valid, or it was revoked.';
        const page = <LoginPage chrome={chromeOf(c)} loginCsrf={signInSecret(c)} next={next ?? ''} error={error} />;
        return html(c, page, 403);
      }
    },
    'sign-in',
  );

  get('/login/link/:code', async (c) => {
    const code = c.req.param('code') ?? '';
    const user = await peekSignInLink(c.var.em, code);
    const page = (
      <SignInLinkPage chrome={chromeOf(c)} loginCsrf={signInSecret(c)} code={code} username={user?.username ?? null} />
    );
    return html(c, page, user ? 200 : 410);
  });

  post(
    '/login/link/:code',
    async (c) => {
      const code = c.req.param('code') ?? '';
      const redeemed = await redeemSignInLink(c.var.em, code);
      if (!redeemed) {
        const page = <SignInLinkPage chrome={chromeOf(c)} loginCsrf={signInSecret(c)} code={code} username={null} />;
        return html(c, page, 410);
      }
      setSessionCookie(c, await openSession(c.var.em, redeemed.tokenId, redeemed.user));
      deleteCookie(c, cookies.login, { path: '/', secure: cookies.secure });
      return c.redirect(`/${redeemed.user.username}`, 303);
    },
    'sign-in',
  );

  post('/logout', async (c) => {
    const session = c.get('session');
    if (session) await endSession(c.var.em, session);
    deleteCookie(c, cookies.session, { path: '/', secure: cookies.secure });
    return c.redirect('/', 303);
  });

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

  return app;
}
