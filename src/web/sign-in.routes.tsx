import { deleteCookie } from 'hono/cookie';
import { UnauthorizedError } from '../errors.ts';
import { parseToken } from '../users/index.ts';
import type { PageDeps, PageKit } from './kit.routes.tsx';
import { endSession, openSession, peekSignInLink, redeemSignInLink } from './session.service.ts';
import { LandingPage, LoginPage, SignInLinkPage } from './views/account.views.tsx';

/**
 * Signing in and out: the token form (its CSRF secret is a cookie the form must pair with), the
 * one-time links `musehub token create --web` prints (GET shows a button, only the POST uses the
 * link), and sign out, which ends the session on the server.
 */
export function signInRoutes(kit: PageKit, deps: Pick<PageDeps, 'tokens'>) {
  const { get, post, html, chromeOf, cookies, setSessionCookie, signInSecret, localPath } = kit;

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
}
