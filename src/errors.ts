import type { ErrorCode } from './error-codes.ts';

/**
 * The error classes. Services throw these; one handler (src/middleware/errors.ts) turns them
 * into `{"detail", "code"}` bodies; every code is one of src/error-codes.ts. Nothing here knows
 * about HTTP frameworks.
 */
export class GatewayError extends Error {
  constructor(
    readonly status: 301 | 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503,
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

/** 503: the object store did not answer (S3 down, timed out, refused our credentials). */
export class StorageUnavailableError extends GatewayError {
  readonly retryAfterSeconds = 5;
  constructor(detail = 'the object store is unavailable; retry shortly') {
    super(503, 'storage_unavailable', detail);
  }
}

/** A byte count as people read it in a message: `63.0 MiB`. */
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** An object whose bytes do not hash to its id: refused, nothing stored. */
export class HashMismatchError extends GatewayError {
  constructor(objectId: string, actual: string) {
    super(422, 'hash_mismatch', `content of object ${objectId} hashes to ${actual}`);
  }
}

/** A branch head whose clone the muse client could never read: refused before it is visible. */
export class HeadTooLargeToCloneError extends GatewayError {
  constructor(branch: string, bytes: number, limit: number) {
    super(
      422,
      'clone_too_large',
      `this push would make '${branch}' need a ${mib(bytes)} response to clone, over this hub's limit of ${mib(limit)} (MUSEHUB_MAX_CLONE_BYTES; the muse client reads at most 64 MiB and a clone is one response); keep large files out of the history or put them in another repo`,
    );
  }
}

/** A request body in neither of the two encodings the wire protocol speaks. */
export class UnsupportedMediaType extends GatewayError {
  constructor(type: string) {
    super(
      415,
      'unsupported_media_type',
      `Content-Type must be application/x-msgpack or application/json, not '${type}'`,
    );
  }
}

/** A fetch answer the muse client could not read (it reads at most 64 MiB of a response). */
export class FetchTooLargeError extends GatewayError {
  constructor(bytes: number, clone: boolean) {
    super(
      422,
      'fetch_too_large',
      clone
        ? `cloning this commit needs a ${mib(bytes)} response, over the muse client's 64 MiB response limit; a clone is one response and cannot be split, so this history cannot be cloned with the muse client`
        : `this fetch would return ${mib(bytes)}, over the muse client's 64 MiB response limit; fetch fewer commits at a time (e.g. one branch tip, or an older commit first)`,
    );
  }
}

/**
 * A repo asked for by a name it had before a rename, on a read that can follow a redirect (REST
 * and pages GET): the answer is a 301 to `location`, its current URL, as GitHub's is.
 */
export class RepoMovedError extends GatewayError {
  constructor(
    readonly location: string,
    fullName: string,
  ) {
    super(301, 'repo_moved', `this repo was renamed; it is now '${fullName}'`);
  }
}
