import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from './logger.ts';
import type { ResolvedRepo } from './repos/index.ts';
import type { AuthUser } from './users/index.ts';

/** Typed Hono context: a handler can only read what a middleware set. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** The process logger; add `requestId` to what you log. */
    log: Logger;
    /** A fresh EntityManager fork per request: no identity map outlives a request. */
    em: EntityManager;
    /** The bearer token's user, or null for an anonymous request. */
    user: AuthUser | null;
    /** Set by resolveRepo on the transport routes: a live repo the caller may use. */
    repo: ResolvedRepo;
  };
}
