import type { MikroORM } from '@mikro-orm/postgresql';
import type { MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import type { SecureHeadersVariables } from 'hono/secure-headers';
import type { AuthEnv, RestEnv } from '../app-env.ts';
import { findSession, type WebSession } from './session.service.ts';

/** Page routes: dbContext has run, and the caller is whoever the session cookie names. */
export interface PageEnv {
  Variables: RestEnv['Variables'] &
    SecureHeadersVariables & {
      session: WebSession | null;
      /** The browser sent a session cookie that no longer opens a session (revoked, expired, signed out). */
      sessionEnded: boolean;
    };
}

/** Cookie names and flags: `__Host-` names (Secure, whole host, no Domain) when the hub is served over https. */
export interface WebCookies {
  session: string;
  login: string;
  /** The one-shot message the next page shows ("Renamed to …", "Deleted …"). */
  flash: string;
  secure: boolean;
}

export function webCookies(publicUrl: string): WebCookies {
  const secure = publicUrl.startsWith('https://');
  const prefix = secure ? '__Host-' : '';
  return {
    session: `${prefix}musehub_session`,
    login: `${prefix}musehub_login`,
    flash: `${prefix}musehub_flash`,
    secure,
  };
}

/**
 * The session cookie → c.var.user and c.var.session. Pages never read an Authorization header:
 * a browser signs in once and the cookie (HttpOnly, SameSite=Strict) carries it. A cookie that
 * opens no session is cleared, and the page says the session ended.
 */
export function webSession(cookies: WebCookies): MiddlewareHandler<PageEnv> {
  return async function webSessionMiddleware(c, next) {
    const cookie = getCookie(c, cookies.session);
    const session = cookie ? await findSession(c.var.em, cookie) : null;
    c.set('session', session);
    c.set('user', session?.user ?? null);
    c.set('sessionEnded', cookie !== undefined && session === null);
    if (cookie !== undefined && !session) deleteCookie(c, cookies.session, { path: '/', secure: cookies.secure });
    await next();
  };
}

/**
 * For `/o/{id}` downloads linked from the pages: a GET without an Authorization header may be
 * signed in by the session cookie, so a private repo's files download in the browser that shows
 * them. Only safe methods: a cookie never authorizes a write on the transport.
 */
export function sessionForDownloads(orm: MikroORM, cookies: WebCookies): MiddlewareHandler<AuthEnv> {
  return async function sessionForDownloadsMiddleware(c, next) {
    const cookie = c.get('user') === null && c.req.method === 'GET' ? getCookie(c, cookies.session) : undefined;
    if (cookie) c.set('user', (await findSession(orm.em.fork(), cookie))?.user ?? null);
    await next();
  };
}
