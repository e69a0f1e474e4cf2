import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from './logger.ts';
import type { Client } from './net/trusted-proxies.ts';
import type { AccessFor, LiveRepo } from './repos/index.ts';
import type { AuthUser } from './users/index.ts';

/**
 * Typed Hono contexts, one per layer of middleware: a handler's type says which variables
 * exist because the middleware in front of it declares what it sets.
 */

/** Every request: set by the outermost middleware (requestContext). */
export interface BaseEnv {
  Variables: {
    requestId: string;
    /** The process logger; add `requestId` to what you log. */
    log: Logger;
    /**
     * Who sent the request (address, http/https): the only place that decides it, believing
     * X-Forwarded-* only from MUSEHUB_TRUSTED_PROXIES. Rate limits and logs read it here.
     */
    client: Client;
  };
}

/** The REST API and the transport: auth has run. */
export interface AuthEnv {
  Variables: BaseEnv['Variables'] & {
    /** The bearer token's user, or null for an anonymous request. */
    user: AuthUser | null;
  };
}

/** REST routes: dbContext has run. */
export interface RestEnv {
  Variables: AuthEnv['Variables'] & {
    /** A fresh EntityManager fork per request: no identity map outlives a request. */
    em: EntityManager;
  };
}

/** Transport routes behind resolveRepo(need): the caller is signed in whenever need is write. */
export interface RepoEnv<N extends 'read' | 'write' = 'read' | 'write'> {
  Variables: AuthEnv['Variables'] & {
    /** A live repo (the liveness cache's entry) and what the caller may do with it. */
    access: AccessFor<N, LiveRepo>;
  };
}
