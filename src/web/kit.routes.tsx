import type { MikroORM } from '@mikro-orm/postgresql';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { NONCE, secureHeaders } from 'hono/secure-headers';
import { BadRequestError, GatewayError, PayloadTooLargeError, RepoMovedError, UnauthorizedError } from '../errors.ts';
import { handleNotFound } from '../middleware/errors.ts';
import { dbContext } from '../middleware/request-context.ts';
import type { RepoLivenessCache } from '../repos/index.ts';
import { rejectNul } from '../text.ts';
import { isUsername, type TokenCache } from '../users/index.ts';
import { type PageEnv, type WebCookies, webSession } from './session.middleware.ts';
import { csrfToken, isSecret, newFormSecret, SESSION_TTL_MS, sameToken } from './session.service.ts';
import { type Chrome, MessagePage, NotFoundPage } from './views/layout.tsx';

export interface PageDeps {
  orm: MikroORM;
  cache: RepoLivenessCache;
  tokens: TokenCache;
  publicUrl: string;
  cookies: WebCookies;
  /** The server's secret: CSRF tokens are HMACs of the session under it. */
  key: Buffer;
  /** Days a deleted repo is kept before its purge; 0: forever. */
  retentionDays?: number;
}

export type PageContext = Context<PageEnv>;
export type PageKit = ReturnType<typeof pageKit>;

const FORM_LIMIT = 64 * 1024;

/**
 * What every page route shares: security headers (a CSP nonce per response), a database context
 * and the session, rendering with the right status, the one NotFoundPage for every 404, and the
 * CSRF check on every form. `get` and `post` register a page; their handlers are named
 * renderPage and submitForm, which is how the route sweep finds the page routes.
 */
/** A flash message longer than this is cut: it is a sentence, not a document. */
const FLASH_MAX = 300;

export function pageKit(deps: PageDeps) {
  const { orm, key, cookies } = deps;
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
    // Sent by requestContext on every response that arrived over HTTPS.
    strictTransportSecurity: false,
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
        takeFlash(c) ??
        (c.get('sessionEnded') ? 'Your session ended (signed out, expired or its token was revoked).' : undefined),
    };
  };

  /**
   * After a form did something: 303 to `location`, whose page then says `message` once (a
   * short-lived cookie, cleared by the page that shows it), as GitHub's flash messages do.
   */
  const redirectWithFlash = (c: PageContext, location: string, message: string) => {
    setCookie(c, cookies.flash, encodeURIComponent(message.slice(0, FLASH_MAX)), {
      path: '/',
      httpOnly: true,
      sameSite: 'Strict',
      secure: cookies.secure,
      maxAge: 60,
    });
    return c.redirect(location, 303);
  };

  const takeFlash = (c: PageContext): string | undefined => {
    const raw = getCookie(c, cookies.flash);
    if (raw === undefined || c.req.method !== 'GET') return undefined;
    deleteCookie(c, cookies.flash, { path: '/', secure: cookies.secure });
    try {
      return decodeURIComponent(raw).slice(0, FLASH_MAX) || undefined;
    } catch {
      return undefined;
    }
  };

  async function html(c: PageContext, page: JSX.Element, status: 200 | 400 | 403 | 404 | 409 | 410 | 413 = 200) {
    c.header('cache-control', 'no-store');
    return c.html(`<!doctype html>${await page.toString()}`, status);
  }

  /** What a refused or failed page shows: any 404 is the one NotFoundPage; sign-in goes to /login. */
  function refusal(c: PageContext, err: unknown) {
    if (!(err instanceof GatewayError)) throw err;
    if (err instanceof RepoMovedError) return c.redirect(err.location, 301);
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
        rejectNul(form);
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
    if (existing && isSecret(existing)) return existing;
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
  const localPath = sameSitePath;

  return { app, cookies, get, post, html, chromeOf, redirectWithFlash, setSessionCookie, signInSecret, localPath };
}

const SITE = 'http://musehub.invalid';

/**
 * `next=`: a path on this site, or undefined. Parsed the way a browser will read the Location
 * (WHATWG URL: tabs and newlines dropped, `\\` read as `/`), so `/<TAB>/evil.example` is the
 * other site it is; what comes back is the parser's own, percent-encoded path — never a CR, LF
 * or NUL for a header to choke on.
 */
export function sameSitePath(next: string | undefined): string | undefined {
  if (!next) return undefined;
  let url: URL;
  try {
    url = new URL(next, `${SITE}/`);
  } catch {
    return undefined;
  }
  return url.origin === SITE && url.username === '' && url.password === ''
    ? `${url.pathname}${url.search}${url.hash}`
    : undefined;
}
