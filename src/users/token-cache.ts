import type { MikroORM } from '@mikro-orm/postgresql';
import { LRUCache } from 'lru-cache';
import type { Invalidation, InvalidationTarget } from '../db/invalidation.ts';
import { UnauthorizedError } from '../errors.ts';
import { type AuthUser, loadTokenRow, parseToken, type TokenRow, verifyToken } from './token.service.ts';

/**
 * token id → its stored row (hash, revoked, user), with the liveness cache's TTL, so an
 * authenticated request needs no database round trip. The secret is verified against the
 * cached hash on every request; only hashes are held, never a presented token. Revoking a
 * token NOTIFYs every process, which drops its copy; while that channel is down nothing is
 * cached. Unknown ids are not cached: guessed ids differ every time anyway.
 */
export class TokenCache implements InvalidationTarget {
  private readonly cache: LRUCache<string, TokenRow>;
  private bypass = false;
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    private readonly orm: MikroORM,
    opts: { ttlMs: number; max: number },
  ) {
    this.cache = new LRUCache<string, TokenRow>({
      max: opts.max,
      ttl: Math.max(1, opts.ttlMs),
      fetchMethod: async (tokenId) => {
        this.stats.misses++;
        return (await this.load(tokenId)) ?? undefined;
      },
    });
  }

  private load(tokenId: string) {
    return loadTokenRow(this.orm.em, tokenId);
  }

  /**
   * Synchronous when the row is cached (the common case): no promise or microtask hop on
   * every authenticated request.
   */
  authenticate(token: string): AuthUser | Promise<AuthUser> {
    const parsed = parseToken(token);
    if (!parsed) throw new UnauthorizedError('invalid or revoked token', 'invalid_token');
    const hit = this.bypass ? undefined : this.cache.get(parsed.tokenId);
    if (hit) {
      this.stats.hits++;
      return verifyToken(hit, parsed.secret);
    }
    return this.miss(parsed.tokenId).then((row) => verifyToken(row, parsed.secret));
  }

  private async miss(tokenId: string): Promise<TokenRow | null> {
    if (this.bypass) return this.load(tokenId);
    try {
      return (await this.cache.fetch(tokenId)) ?? null;
    } catch {
      // A revocation evicted the entry while it loaded: what it loaded may be stale.
      return this.load(tokenId);
    }
  }

  invalidate(msg: Invalidation): void {
    if (msg.tokenId) this.cache.delete(msg.tokenId);
  }

  setBypass(on: boolean): void {
    this.bypass = on;
    this.clear();
  }

  clear(): void {
    this.cache.clear();
  }
}
