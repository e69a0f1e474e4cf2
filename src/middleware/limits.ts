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
 * Token buckets per caller and kind of request: `perMinute` sustained, bursts up to `burst`
 * (by default the same number). `take(key, n)` spends n tokens, or none and answers how many
 * seconds until n are there. Per process: under --workers each worker counts for itself.
 */
export class RateBudget {
  private readonly perMs: number;
  private readonly buckets = new LRUCache<string, Bucket>({ max: 100_000, ttl: 5 * 60_000 });

  constructor(
    readonly perMinute: number,
    readonly burst = perMinute,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /**
   * 0 when the tokens were spent; otherwise the whole seconds to wait (nothing spent). n ≤ burst;
   * `take(key, 0)` spends nothing and refuses only a caller with less than one token left.
   */
  take(key: string, n = 1): number {
    const b = this.refill(key);
    if (b.tokens < Math.max(n, 1)) return this.secondsUntil(key, Math.max(n, 1));
    b.tokens -= n;
    return 0;
  }

  /** Whole seconds until `key` has n tokens (at least 1). */
  secondsUntil(key: string, n: number): number {
    const b = this.refill(key);
    return Math.max(1, Math.ceil((n - b.tokens) / this.perMs / 1000));
  }

  private refill(key: string): Bucket {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    this.buckets.set(key, b);
    return b;
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
 * At most `max` runs of `run()` at once; the rest wait their turn in arrival order. Per process.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  /** `max` 0 means no limit. */
  constructor(max: number) {
    this.max = max || Number.POSITIVE_INFINITY;
  }

  readonly max: number;

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    // A finishing holder hands its place straight to the next waiter (active stays the same).
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The next holder starts after the I/O already waiting (setImmediate, not a microtask):
      // a queue of work behind this semaphore must not keep other requests from their turn.
      if (next) setImmediate(next);
      else this.active--;
    }
  }
}

/** Requests in flight per key (a caller, a repo), refused rather than queued beyond `max`. */
export class InFlight {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  /** False, and nothing counted, when `key` already has `max` in flight; else call `leave` after. */
  enter(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  leave(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}

/**
 * At most `max` pushes in flight per repo in this process (a push holds a transaction and
 * the branch lock; more waiting only ties up database connections). 0 turns it off.
 */
export function pushConcurrency(max: number): MiddlewareHandler<RepoEnv> {
  if (max <= 0) return (_c, next) => next();
  const pushes = new InFlight(max);
  return async function pushConcurrencyMiddleware(c, next) {
    const repoId = c.get('access').repo.repoId;
    if (!pushes.enter(repoId)) {
      throw new TooManyRequests(
        1,
        'too_many_pushes',
        `${max} pushes to this repo are already in progress; retry in a moment`,
      );
    }
    try {
      await next();
    } finally {
      pushes.leave(repoId);
    }
  };
}
