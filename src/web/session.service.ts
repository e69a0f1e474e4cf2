import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';
import type { AuthUser } from '../users/index.ts';

/**
 * Server-side sessions for the web pages. The cookie holds 32 random bytes; the table holds
 * their SHA-256 and the API token the session was opened with. Every page request reads the
 * session joined to that token, so a revoked token signs its sessions out on their next request
 * on any process (there is nothing cached to invalidate).
 */
export const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;
/** How long a `musehub token create --web` link can be used (once). */
export const SIGN_IN_LINK_TTL_MS = 15 * 60 * 1000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const secret = () => randomBytes(32).toString('base64url');
const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;
/** Whether a cookie or code has the shape of a secret this module makes (anything else is not looked up). */
export const isSecret = (s: string) => COOKIE_VALUE.test(s);

export interface WebSession {
  user: AuthUser;
  /** SHA-256 of the cookie: what the CSRF token is bound to. */
  sessionHash: string;
}

/** Opens a session for a verified token; returns the cookie value (shown to the browser only). */
export async function openSession(em: EntityManager, tokenId: string, user: AuthUser): Promise<string> {
  const value = secret();
  await runSql(
    em,
    `INSERT INTO musehub_web_sessions (session_hash, token_id, user_id, expires_at)
     VALUES (?, ?, ?, now() + make_interval(secs => ?))`,
    [sha256(value), tokenId, user.userId, SESSION_TTL_MS / 1000],
  );
  // The user's expired sessions go when they sign in again: the table does not grow without bound.
  await runSql(em, 'DELETE FROM musehub_web_sessions WHERE user_id = ? AND expires_at <= now()', [user.userId]);
  return value;
}

/** The live session a cookie names: unexpired and opened with a token that is not revoked. */
export async function findSession(em: EntityManager, cookie: string): Promise<WebSession | null> {
  if (!isSecret(cookie)) return null;
  const sessionHash = sha256(cookie);
  const [row] = await runSql<{ user_id: string; username: string }>(
    em,
    `SELECT u.user_id, u.username
       FROM musehub_web_sessions s
       JOIN musehub_tokens t ON t.token_id = s.token_id AND t.revoked_at IS NULL
       JOIN musehub_users u ON u.user_id = s.user_id
      WHERE s.session_hash = ? AND s.expires_at > now()`,
    [sessionHash],
  );
  return row ? { user: { userId: row.user_id, username: row.username }, sessionHash } : null;
}

export async function endSession(em: EntityManager, session: WebSession): Promise<void> {
  await runSql(em, 'DELETE FROM musehub_web_sessions WHERE session_hash = ?', [session.sessionHash]);
}

/** A one-time sign-in code for a token (the CLI prints it as a link). */
export async function createSignInLink(em: EntityManager, tokenId: string): Promise<string> {
  const code = secret();
  await runSql(
    em,
    `INSERT INTO musehub_web_sign_in_links (code_hash, token_id, expires_at)
     VALUES (?, ?, now() + make_interval(secs => ?))`,
    [sha256(code), tokenId, SIGN_IN_LINK_TTL_MS / 1000],
  );
  return code;
}

/** Who a sign-in code would sign in, without using it (the confirmation page); null if unusable. */
export async function peekSignInLink(em: EntityManager, code: string): Promise<AuthUser | null> {
  const [row] = await linkRows(em, code, 'SELECT');
  return row ? { userId: row.user_id, username: row.username } : null;
}

/** Uses a sign-in code once: its token and user, or null when unknown, used, expired or revoked. */
export async function redeemSignInLink(
  em: EntityManager,
  code: string,
): Promise<{ tokenId: string; user: AuthUser } | null> {
  const [row] = await linkRows(em, code, 'UPDATE');
  return row ? { tokenId: row.token_id, user: { userId: row.user_id, username: row.username } } : null;
}

function linkRows(em: EntityManager, code: string, mode: 'SELECT' | 'UPDATE') {
  if (!isSecret(code)) return Promise.resolve([]);
  const usable = `l.code_hash = ? AND l.used_at IS NULL AND l.expires_at > now()`;
  const who = `JOIN musehub_tokens t ON t.token_id = l.token_id AND t.revoked_at IS NULL
               JOIN musehub_users u ON u.user_id = t.user_id`;
  return runSql<{ token_id: string; user_id: string; username: string }>(
    em,
    mode === 'SELECT'
      ? `SELECT l.token_id, u.user_id, u.username FROM musehub_web_sign_in_links l ${who} WHERE ${usable}`
      : // One UPDATE: two tabs posting the same link cannot both get a session.
        `UPDATE musehub_web_sign_in_links l SET used_at = now() FROM musehub_tokens t
           JOIN musehub_users u ON u.user_id = t.user_id
          WHERE t.token_id = l.token_id AND t.revoked_at IS NULL AND ${usable}
        RETURNING l.token_id, u.user_id, u.username`,
    [sha256(code)],
  );
}

/**
 * The CSRF token of a session: an HMAC of the session under the server's key, so a form
 * rendered for one session is refused in any other and nothing needs storing.
 */
export function csrfToken(key: Buffer, session: WebSession): string {
  return createHmac('sha256', key).update(`csrf\0${session.sessionHash}`).digest('base64url');
}

/** Constant-time comparison of a submitted form token with the expected one. */
export function sameToken(expected: string, submitted: string | undefined): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(submitted ?? '');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A fresh random value for the sign-in form's double-submitted CSRF cookie. */
export const newFormSecret = secret;
