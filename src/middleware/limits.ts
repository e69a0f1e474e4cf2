import type { MiddlewareHandler } from 'hono';
import { LRUCache } from 'lru-cache';
import type { AuthEnv, RepoEnv } from '../app-env.ts';
import { TooManyRequestsError as TooManyRequests } from '../errors.ts';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets per caller — the token's user when authenticated, otherwise the client's
 * address (c.var.client: behind a trusted proxy, the forwarded one)
 * — one set per kind of request ("push", "fetch"). `perMinute` requests a minute sustained,
 * bursts up to the same number. 429 with Retry-After (seconds until one request is allowed
 * again). Per process: under --workers each worker counts for itself. 0 turns it off.
 */
export function rateLimit(kind: string, perMinute: number): MiddlewareHandler<AuthEnv> {
  if (perMinute <= 0) return (_c, next) => next();
  const perMs = perMinute / 60_000;
  const buckets = new LRUCache<string, Bucket>({ max: 100_000, ttl: 5 * 60_000 });
  return async function rateLimitMiddleware(c, next) {
    const user = c.get('user');
    const key = user ? `u:${user.userId}` : `ip:${c.var.client.ip}`;
    const now = Date.now();
    const b = buckets.get(key) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + (now - b.at) * perMs);
    b.at = now;
    if (b.tokens < 1) {
      buckets.set(key, b);
      const wait = Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
      throw new TooManyRequests(
        wait,
        'rate_limited',
        `too many ${kind} requests (${perMinute} a minute ${user ? 'per user' : 'per address'}); retry in ${wait} s`,
      );
    }
    b.tokens -= 1;
    buckets.set(key, b);
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
