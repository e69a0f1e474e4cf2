import type { MiddlewareHandler } from 'hono';
import { LRUCache } from 'lru-cache';
import type { AuthEnv, RepoEnv } from '../app-env.ts';
import { TooManyRequestsError as TooManyRequests } from '../errors.ts';
import type { AuthUser } from '../users/index.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per caller and kind of request: `perMinute` sustained, bursts up to the same
 * number. `take(key, n)` spends n tokens, or none and answers how many seconds until n are there.
 * Per process: under --workers each worker counts for itself.
 */
export class RateBudget {
  private readonly perMs: number;
  private readonly buckets = new LRUCache<string, Bucket>({ max: 100_000, ttl: 5 * 60_000 });

  constructor(readonly perMinute: number) {
    this.perMs = perMinute / 60_000;
  }

  /** 0 when the tokens were spent; otherwise the whole seconds to wait (nothing spent). */
  take(key: string, n = 1): number {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < n) return Math.max(1, Math.ceil((n - b.tokens) / this.perMs / 1000));
    b.tokens -= n;
    return 0;
  }
}

/** Whose budget a request spends: the token's user, else the client's address (c.var.client). */
export const callerKey = (c: { get(key: 'user'): AuthUser | null; var: { client: { ip: string } } }) => {
  const user = c.get('user');
  return user ? `u:${user.userId}` : `ip:${c.var.client.ip}`;
};

/**
 * Push and fetch requests a minute per caller — the token's user when authenticated, otherwise
 * the client's address (behind a trusted proxy, the forwarded one) — one budget per kind.
 * 429 with Retry-After (seconds until one request is allowed again). 0 turns it off.
 */
export function rateLimit(kind: string, perMinute: number): MiddlewareHandler<AuthEnv> {
  if (perMinute <= 0) return (_c, next) => next();
  const budget = new RateBudget(perMinute);
  return async function rateLimitMiddleware(c, next) {
    const wait = budget.take(callerKey(c));
    if (wait) {
      throw new TooManyRequests(
        wait,
        'rate_limited',
        `too many ${kind} requests (${perMinute} a minute ${c.get('user') ? 'per user' : 'per address'}); retry in ${wait} s`,
      );
    }
    await next();
  };
}

/**
 * At most `max` pushes in flight per repo in this process (a push holds a transaction and
 * the branch lock; more waiting only ties up database connections). 0 turns it off.
 */
export function pushConcurrency(max: number): MiddlewareHandler<RepoEnv> {
  if (max <= 0) return (_c, next) => next();
  const inFlight = new Map<string, number>();
  return async function pushConcurrencyMiddleware(c, next) {
    const repoId = c.get('repo').repoId;
    const n = inFlight.get(repoId) ?? 0;
    if (n >= max) {
      throw new TooManyRequests(
        1,
        'too_many_pushes',
        `${max} pushes to this repo are already in progress; retry in a moment`,
      );
    }
    inFlight.set(repoId, n + 1);
    try {
      await next();
    } finally {
      const left = (inFlight.get(repoId) ?? 1) - 1;
      if (left) inFlight.set(repoId, left);
      else inFlight.delete(repoId);
    }
  };
}
