import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from './sql.ts';

/**
 * The channel every gateway process LISTENs on. Messages are JSON:
 * `{"op": "delete"|"restore"|"create"|"update", "repoId", "owner", "slug"}` for repos and
 * `{"op": "token", "tokenId"}` when a token is revoked. PostgreSQL delivers a NOTIFY sent
 * inside a transaction only if and when it commits.
 */
export const INVALIDATION_CHANNEL = 'musehub_repo_liveness';

export interface Invalidation {
  op?: string;
  repoId?: string;
  owner?: string;
  slug?: string;
  tokenId?: string;
}

/** A per-process cache kept coherent through the invalidation channel. */
export interface InvalidationTarget {
  invalidate(msg: Invalidation): void;
  /** On: the channel is down, cache nothing (and drop what is cached). Off: cache again, from empty. */
  setBypass(on: boolean): void;
  clear(): void;
}

/**
 * Tells every gateway process to drop what it cached about `msg`'s repo or token: queued in the
 * EntityManager's transaction (if any), delivered only if and when it commits.
 */
export async function notifyInvalidation(em: EntityManager, msg: Invalidation): Promise<void> {
  await runSql(em, 'SELECT pg_notify(?, ?)', [INVALIDATION_CHANNEL, JSON.stringify(msg)]);
}
