import {
  ConnectionException,
  NotFoundError as OrmNotFoundError,
  UniqueConstraintViolationException,
} from '@mikro-orm/core';
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { BaseEnv } from '../app-env.ts';
import type { ErrorCode } from '../error-codes.ts';
import { GatewayError, RepoMovedError, StorageUnavailableError, TooManyRequestsError } from '../errors.ts';

export const errorBody = (detail: string, code: ErrorCode) => ({ detail, code });

// Connection-level failures: the database is unreachable or restarting, not a bug in the request.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof ConnectionException) return true;
  for (
    let e = err as { code?: string; name?: string; cause?: unknown; message?: string } | undefined;
    e;
    e = e.cause as typeof e
  ) {
    if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
    // knex's pool: every connection busy for longer than its acquire timeout.
    if (e.name === 'KnexTimeoutError') return true;
    // The rest carry no code or class of their own, only their message.
    if (e.message?.includes('Connection terminated')) return true;
    // node-postgres, for a pooled client whose server went away mid-use.
    if (e.message?.includes('Connection ended unexpectedly')) return true;
    if (e.message?.includes('is not queryable')) return true;
    // knex, for the next statement of a transaction whose connection died under it (seen
    // when PostgreSQL stopped mid-request in test/reliability/database-outage.test.ts).
    if (e.message?.includes('Transaction query already complete')) return true;
  }
  return false;
}

function respond(c: Context, status: ContentfulStatusCode, detail: string, code: ErrorCode) {
  return c.json(errorBody(detail, code), status);
}

/** The one place errors become HTTP: catalogue errors keep their status, unknown ones are a bare 500. */
export const handleError: ErrorHandler<BaseEnv> = (err, c) => {
  if (err instanceof GatewayError) {
    if (err.status === 401) c.header('WWW-Authenticate', 'Bearer');
    // The rest of an oversized body is never read: the connection cannot carry another request.
    if (err.status === 413) c.header('Connection', 'close');
    if (err instanceof RepoMovedError) c.header('Location', err.location);
    if (err instanceof TooManyRequestsError || err instanceof StorageUnavailableError) {
      c.header('Retry-After', String(err.retryAfterSeconds));
    }
    return respond(c, err.status, err.detail, err.code);
  }
  if (err instanceof UniqueConstraintViolationException) {
    return respond(c, 409, 'that resource already exists', 'conflict');
  }
  if (err instanceof OrmNotFoundError) return respond(c, 404, 'not found', 'not_found');
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    // Hono's JSON validator names an unparseable body only in its message.
    const code =
      status === 413
        ? 'payload_too_large'
        : status === 400 && /^Malformed JSON/i.test(err.message)
          ? 'malformed_json'
          : status === 400
            ? 'bad_request'
            : 'http_error';
    return respond(c, status, err.message || 'bad request', code);
  }
  const log = c.get('log');
  if (isDatabaseUnavailable(err)) {
    log?.warn({ requestId: c.get('requestId'), err: String(err) }, 'database unavailable');
    c.header('Retry-After', '5');
    return respond(c, 503, 'the database is unavailable; retry shortly', 'unavailable');
  }
  log?.error({ requestId: c.get('requestId'), err }, 'unhandled error');
  return respond(c, 500, `internal error (request ${c.get('requestId') ?? 'unknown'})`, 'internal');
};

/** Also answered by page routes whose first segment cannot be an owner (web/pages.routes.tsx). */
export const handleNotFound: NotFoundHandler = (c) => respond(c, 404, 'no such route', 'route_not_found');
