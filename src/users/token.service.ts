import { hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { notifyInvalidation } from '../db/invalidation.ts';
import { runSql } from '../db/sql.ts';
import { BadRequestError, ConflictError, NotFoundError, UnauthorizedError } from '../errors.ts';
import { type Token, TokenSchema, type User, UserSchema } from './user.entity.ts';

export interface AuthUser {
  userId: string;
  username: string;
}

// Lowercase, like GitHub logins but case-folded: owner names are URL path segments.
const USERNAME = /^[a-z0-9](?:[a-z0-9-]{0,37}[a-z0-9])?$/;
// First path segments the gateway itself routes: an owner of that name would be shadowed.
const RESERVED = new Set([
  'api',
  'o',
  'health',
  'docs',
  'openapi.json',
  'sitemap.xml',
  'metrics',
  'presigned',
  'admin',
  'login',
  'logout',
  'settings',
  'new',
]);

/** A first path segment the gateway routes itself (never an owner). */
export const isReservedName = (s: string) => RESERVED.has(s);

/** Whether a string can be a username (so a path segment can name an owner). */
export const isUsername = (s: string) => USERNAME.test(s) && !RESERVED.has(s);

export function validateUsername(username: string): string {
  if (!USERNAME.test(username)) {
    throw new BadRequestError(
      'username must be 1-39 characters of lowercase letters, digits and inner hyphens',
      'invalid_username',
    );
  }
  if (RESERVED.has(username)) throw new BadRequestError(`username '${username}' is reserved`, 'invalid_username');
  return username;
}

export async function createUser(em: EntityManager, username: string): Promise<User> {
  validateUsername(username);
  if (await em.count(UserSchema, { username }))
    throw new ConflictError(`user '${username}' already exists`, 'user_exists');
  const user = em.create(UserSchema, { userId: randomUUID(), username });
  await em.flush();
  return user;
}

export async function findUserByName(em: EntityManager, username: string): Promise<User | null> {
  return em.findOne(UserSchema, { username });
}

// One-shot: no Hash object per authenticated request.
const sha256 = (s: string) => hash('sha256', s, 'buffer');
const TOKEN_FORMAT = /^mh_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

/** A token is `mh_<token id>_<secret>`; only sha256(secret) is stored. The plain value is returned once. */
export async function createToken(
  em: EntityManager,
  username: string,
  name?: string,
): Promise<{ token: string; record: Token }> {
  const user = await findUserByName(em, username);
  if (!user) throw new NotFoundError(`user '${username}' not found`, 'user_not_found');
  const tokenId = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  const record = em.create(TokenSchema, {
    tokenId,
    userId: user.userId,
    tokenHash: sha256(secret).toString('hex'),
    name: name ?? null,
  });
  await em.flush();
  return { token: `mh_${tokenId.replaceAll('-', '')}_${secret}`, record };
}

export async function revokeToken(em: EntityManager, tokenId: string): Promise<Token> {
  const token = /^[0-9a-f-]{36}$/i.test(tokenId) ? await em.findOne(TokenSchema, { tokenId }) : null;
  if (!token) throw new NotFoundError(`token '${tokenId}' not found`, 'token_not_found');
  token.revokedAt ??= new Date();
  await em.flush();
  // Committed above: every gateway process drops its cached copy when this arrives.
  await notifyInvalidation(em, { op: 'token', tokenId });
  return token;
}

const invalidToken = () => new UnauthorizedError('invalid or revoked token', 'invalid_token');

/** What authentication needs from a token's row; null when no such token id exists. */
export interface TokenRow {
  tokenHash: Buffer;
  revoked: boolean;
  user: AuthUser;
}

/** Splits `mh_<id hex>_<secret>` into the token id (uuid form) and the secret; null if malformed. */
export function parseToken(token: string): { tokenId: string; secret: string } | null {
  const m = TOKEN_FORMAT.exec(token);
  if (!m) return null;
  const hex = m[1]!;
  const tokenId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { tokenId, secret: m[2]! };
}

/** Lean lookup on the primary key (no entity hydration): it backs every authenticated request. */
export async function loadTokenRow(em: EntityManager, tokenId: string): Promise<TokenRow | null> {
  const rows = await runSql<{ token_hash: string; revoked_at: Date | null; user_id: string; username: string }>(
    em,
    `SELECT t.token_hash, t.revoked_at, u.user_id, u.username
       FROM musehub_tokens t JOIN musehub_users u ON u.user_id = t.user_id
      WHERE t.token_id = ?`,
    [tokenId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    tokenHash: Buffer.from(row.token_hash, 'hex'),
    revoked: row.revoked_at !== null,
    user: { userId: row.user_id, username: row.username },
  };
}

/** The presented secret against the stored row. Malformed, unknown and revoked tokens all fail the same way. */
export function verifyToken(row: TokenRow | null, secret: string): AuthUser {
  const presented = sha256(secret);
  const stored = row?.tokenHash ?? Buffer.alloc(32);
  // Constant-time comparison, done even for unknown ids so timing reveals nothing.
  const matches = stored.length === presented.length && timingSafeEqual(stored, presented);
  if (!row || !matches || row.revoked) throw invalidToken();
  return row.user;
}

/** Bearer token → user, straight from the database (no cache). */
export async function authenticateToken(em: EntityManager, token: string): Promise<AuthUser> {
  const parsed = parseToken(token);
  if (!parsed) throw invalidToken();
  return verifyToken(await loadTokenRow(em, parsed.tokenId), parsed.secret);
}
