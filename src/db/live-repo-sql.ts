/**
 * "This repo is live" in SQL, for the statements the ORM's live filter cannot reach (raw SQL, a
 * row lock, a check folded into a query that runs anyway). Every raw statement that must skip a
 * deleted repo says it with these, so the rule is written once. Below history and repos: both
 * use it, and repos/live-repo.ts builds the write gate on it.
 */

/** "The repo row `alias` is live" as a condition: the repo filter written out. */
export const repoIsLive = (alias: string) => `${alias}.deleted_at IS NULL`;

/**
 * "Repo ? is live" as an SQL condition (one parameter, the repo id), for a read that folds the
 * check into the query it runs anyway instead of a second round trip.
 */
export const LIVE_REPO = `EXISTS (SELECT 1 FROM musehub_repos r WHERE r.repo_id = ? AND ${repoIsLive('r')})`;

/** Advisory-lock key shared by writers (shared) and the delete (exclusive) of one repo. */
export const repoGateKey = (repoId: string) => `musehub-repo-gate:${repoId}`;
