/**
 * Every `code` an error body can carry, with its HTTP status and what it means: the one list
 * (the README's table and /openapi.json are built from it, and GatewayError only takes these).
 */
export const ERROR_CODES = {
  repo_moved: [301, 'A repo read by a name it had before a rename: `Location` is its current URL.'],
  bad_request: [400, 'The request is malformed in a way no more specific code names.'],
  invalid_request: [400, 'A field has the wrong type or value; `detail` names the field.'],
  too_many_items: [400, 'A list is longer than the endpoint accepts.'],
  malformed_json: [400, 'The body is not valid JSON, or not valid UTF-8.'],
  malformed_msgpack: [400, 'The body is not valid msgpack.'],
  empty_body: [400, 'The request needs a body.'],
  invalid_cursor: [400, 'The page cursor was not issued by this list.'],
  invalid_name: [400, 'A repo name that cannot be made into a slug.'],
  invalid_username: [400, 'A username outside the allowed characters or length, or reserved.'],
  invalid_branch: [400, 'A branch name git would refuse (`git check-ref-format --branch`), HEAD or @.'],
  invalid_label: [400, 'A label that is empty, too long or has control characters.'],
  invalid_webhook_url: [400, 'A webhook URL that is not http(s) or not absolute.'],
  invalid_webhook_events: [400, 'A webhook event name the hub does not send.'],
  owner_is_not_a_collaborator: [400, "The repo's owner already has every permission."],
  unknown_commit: [400, '`want` names a commit this repo does not have.'],
  empty_push: [400, 'The push names no commit for its branch.'],
  missing_commits: [400, 'The push refers to parent commits the hub does not have.'],
  missing_snapshots: [400, 'A pushed commit names a snapshot neither pushed nor stored.'],
  missing_objects: [400, 'A pushed snapshot names objects neither uploaded nor stored.'],
  invalid_signature: [
    [400, 403],
    'A presigned URL that is malformed (400), or whose signature or expiry does not hold (403).',
  ],
  unauthorized: [401, 'The route needs a bearer token.'],
  invalid_token: [401, 'The Authorization header is malformed, or the token is unknown or revoked.'],
  forbidden: [403, 'The caller may read this resource but not do this.'],
  insufficient_permission: [403, 'The caller may read the repo but lacks the permission this needs.'],
  not_found: [404, 'No such resource.'],
  route_not_found: [404, 'No such route.'],
  repo_not_found: [
    404,
    'No live repo of that name or id that the caller may read: missing, deleted and private are one answer.',
  ],
  user_not_found: [404, 'No such user.'],
  token_not_found: [404, 'No such token of yours.'],
  issue_not_found: [404, 'No such issue in this repo.'],
  proposal_not_found: [404, 'No such proposal in this repo.'],
  comment_not_found: [404, 'No such comment on this thread.'],
  label_not_found: [404, 'The issue has no such label.'],
  collaborator_not_found: [404, 'That user is not a collaborator.'],
  webhook_not_found: [404, 'No such webhook on this repo.'],
  object_not_found: [404, 'No live repo the caller may read holds that object.'],
  branch_not_found: [404, 'The repo has no branch by that name (MCP).'],
  commit_not_found: [404, 'The repo has no commit with that id (MCP).'],
  file_not_found: [404, "The commit's snapshot has no file at that path (MCP)."],
  conflict: [409, 'The request conflicts with the current state.'],
  repo_exists: [409, 'You already have a repo with that name.'],
  repo_name_taken: [409, 'A restore whose name a live repo now uses.'],
  fork_parent_unavailable: [409, 'A restore of a private fork whose parent you may no longer read.'],
  repo_not_deleted: [409, 'A restore or purge of a repo that is live (not deleted, or restored meanwhile).'],
  user_exists: [409, 'The username is taken.'],
  non_fast_forward: [409, "The push does not descend from the branch's head; push with force to replace it."],
  proposal_merged: [409, 'A merged proposal cannot change state.'],
  payload_too_large: [413, 'The body (or an object in it) is over the limit.'],
  unsupported_media_type: [415, 'A Content-Type this route does not read.'],
  unsupported_content_encoding: [415, 'A compressed body: send it uncompressed.'],
  hash_mismatch: [422, "An object's bytes do not hash to its id."],
  webhook_target_refused: [
    422,
    'A webhook URL whose host is loopback, private, link-local or metadata (unless allowed).',
  ],
  clone_too_large: [422, 'The push would leave a branch whose clone exceeds the limit.'],
  fetch_too_large: [422, "The answer would exceed the muse client's 64 MiB response limit."],
  rate_limited: [429, 'Too many requests; wait Retry-After seconds.'],
  too_many_pushes: [429, 'Too many pushes to this repo at once; wait Retry-After seconds.'],
  http_error: [400, 'A protocol-level error from the HTTP layer.'],
  internal: [500, 'A bug: the answer names a request id to report.'],
  unavailable: [503, 'The database is unreachable; retry after Retry-After seconds.'],
  confirmation_required: [400, 'A destructive MCP tool was called without confirm equal to the repo\'s "owner/slug".'],
  storage_unavailable: [503, 'The object store (S3) is unreachable; retry after Retry-After seconds.'],
} as const satisfies Record<string, readonly [number | readonly number[], string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The statuses a code is answered with. */
export function statusesOf(code: ErrorCode): readonly number[] {
  const status = ERROR_CODES[code][0];
  return typeof status === 'number' ? [status] : status;
}
