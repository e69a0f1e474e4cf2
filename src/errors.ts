import type { ErrorCode } from './error-codes.ts';

/**
 * The error classes. Services throw these; one handler (src/middleware/errors.ts) turns them
 * into `{"detail", "code"}` bodies; every code is one of src/error-codes.ts. Nothing here knows
 * about HTTP frameworks.
 */
export class GatewayError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503,
    readonly code: ErrorCode,
    detail: string,
  ) {
    super(detail);
  }
  get detail(): string {
    return this.message;
  }
}

export class BadRequestError extends GatewayError {
  constructor(detail: string, code: ErrorCode = 'bad_request') {
    super(400, code, detail);
  }
}

export class UnauthorizedError extends GatewayError {
  constructor(detail = 'a valid bearer token is required', code: ErrorCode = 'unauthorized') {
    super(401, code, detail);
  }
}

export class ForbiddenError extends GatewayError {
  constructor(detail: string, code: ErrorCode = 'forbidden') {
    super(403, code, detail);
  }
}

export class NotFoundError extends GatewayError {
  constructor(detail: string, code: ErrorCode = 'not_found') {
    super(404, code, detail);
  }
}

export class ConflictError extends GatewayError {
  constructor(detail: string, code: ErrorCode = 'conflict') {
    super(409, code, detail);
  }
}

export class PayloadTooLargeError extends GatewayError {
  constructor(detail: string, code: ErrorCode = 'payload_too_large') {
    super(413, code, detail);
  }
}

/** The one 404 for a repo that is missing, deleted or private to the caller: identical bytes for all three. */
export const repoNotFound = () => new NotFoundError('repo not found', 'repo_not_found');

/** 429: the caller should wait `retryAfterSeconds` (sent as Retry-After) and try again. */
export class TooManyRequestsError extends GatewayError {
  constructor(
    readonly retryAfterSeconds: number,
    code: ErrorCode,
    detail: string,
  ) {
    super(429, code, detail);
  }
}
