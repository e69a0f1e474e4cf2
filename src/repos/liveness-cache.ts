import type { MikroORM } from '@mikro-orm/postgresql';
import { LRUCache } from 'lru-cache';
import type { Invalidation, InvalidationTarget } from '../db/invalidation.ts';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';
import type { Permission, Visibility } from './repo.entity.ts';

/** What the transport needs to know about a live repo; never a tombstoned one. */
export interface LiveRepo {
  repoId: string;
  owner: string;
  slug: string;
  ownerUserId: string;
  visibility: Visibility;
  defaultBranch: string;
  /**
   * Every collaborator's permission, by user id, read in the same query as the repo: deciding
   * what a caller may do then needs no second query, so refusing a stranger costs what
   * "no such repo" costs (no timing oracle), and a push needs no permission round trip.
   */
  collaborators: Readonly<Record<string, Permission>>;
}

export interface LivenessCacheOptions {
  ttlMs: number;
  max: number;
}

interface Entry {
  repo: LiveRepo | null;
}

/** A live repo's default branch and branch heads, as refs answers them. */
export interface RepoRefs {
  defaultBranch: string;
  heads: Record<string, string>;
}

type RefsLoader = (repoId: string) => Promise<RepoRefs | null>;

const keyOf = (owner: string, slug: string) => `${owner}/${slug}`;

/**
 * owner/slug → live repo and its collaborators, with a short TTL. Concurrent misses for one key
 * share a single query (lru-cache's fetchMethod). "No such repo" is cached too, for as long as a
 * repo is (a scan of random names cannot hammer the database, and a private repo one may not
 * read is a cache hit exactly when a missing name would be: a shorter negative TTL let a
 * stranger tell them apart by waiting). Creating a repo evicts its name, deleting, restoring,
 * pushing or changing collaborators evicts the repo, here at once and everywhere through NOTIFY;
 * the TTL is only the last line of defence.
 */
export class RepoLivenessCache implements InvalidationTarget {
  private readonly cache: LRUCache<string, Entry>;
  private readonly refsCache: LRUCache<string, { refs: RepoRefs | null }>;
  /** Every name a repo is cached under: its own, and old names of a renamed repo that led to it. */
  private readonly keysByRepoId = new Map<string, Set<string>>();
  /** While cross-process invalidation is down, nothing is cached: every lookup asks the database. */
  private bypass = false;
  /** Read by /metrics. evictions: invalidations and capacity evictions, not TTL expiry. */
  readonly stats = { hits: 0, misses: 0, evictions: 0, refsHits: 0, refsMisses: 0 };

  constructor(
    private readonly orm: MikroORM,
    opts: LivenessCacheOptions,
    private readonly loadRefs?: RefsLoader,
  ) {
    // Branch heads per repo id: refs (ls-remote), the hottest read, then needs no database
    // round trip. Evicted with the repo, and on every push (locally and through NOTIFY).
    this.refsCache = new LRUCache({
      max: opts.max,
      ttl: Math.max(1, opts.ttlMs),
      fetchMethod: async (repoId) => ({ refs: (await this.loadRefs?.(repoId)) ?? null }),
    });
    this.cache = new LRUCache<string, Entry>({
      max: opts.max,
      ttl: Math.max(1, opts.ttlMs),
      dispose: (entry, key, reason) => {
        if (reason === 'delete' || reason === 'evict') this.stats.evictions++;
        if (!entry.repo) return;
        const keys = this.keysByRepoId.get(entry.repo.repoId);
        keys?.delete(key);
        if (keys?.size === 0) this.keysByRepoId.delete(entry.repo.repoId);
      },
      fetchMethod: async (key) => {
        this.stats.misses++;
        const [owner, slug] = key.split('/') as [string, string];
        const repo = await this.load(owner, slug);
        if (repo) {
          const keys = this.keysByRepoId.get(repo.repoId) ?? new Set();
          this.keysByRepoId.set(repo.repoId, keys.add(key));
        }
        return { repo };
      },
    });
  }

  /**
   * The live repo named owner/slug — or, when no live repo has that name, the live repo a rename
   * left it behind for (its entry then carries the repo's current name).
   */
  private async load(owner: string, slug: string): Promise<LiveRepo | null> {
    // Raw: the hot path of every transport request on a miss; hydrating an entity cost more.
    const rows = await runSql<Record<string, string>>(
      this.orm.em,
      `SELECT r.repo_id, r.owner, r.slug, r.owner_user_id, r.visibility, r.default_branch,
              (SELECT json_object_agg(c.user_id, c.permission) FROM musehub_collaborators c
                WHERE c.repo_id = r.repo_id) AS collaborators
         FROM musehub_repos r
        WHERE r.repo_id = COALESCE(
                (SELECT l.repo_id FROM musehub_repos l WHERE l.owner = ? AND l.slug = ? AND ${repoIsLive('l')}),
                (SELECT n.repo_id FROM musehub_repo_renames n WHERE n.owner = ? AND n.slug = ?))
          AND ${repoIsLive('r')}`,
      [owner, slug, owner, slug],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      repoId: row.repo_id!,
      owner: row.owner!,
      slug: row.slug!,
      ownerUserId: row.owner_user_id!,
      visibility: row.visibility as Visibility,
      defaultBranch: row.default_branch!,
      collaborators: (row.collaborators as unknown as Record<string, Permission> | null) ?? {},
    };
  }

  /** Stop caching (invalidation channel lost) or start again (reconnected: starts empty). */
  setBypass(on: boolean): void {
    this.bypass = on;
    this.clear();
  }

  async resolve(owner: string, slug: string): Promise<LiveRepo | null> {
    if (this.bypass) return this.load(owner, slug);
    const key = keyOf(owner, slug);
    // A hit is answered synchronously: fetch() would cost a promise chain per request.
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.hits++;
      return hit.repo;
    }
    try {
      const entry = await this.cache.fetch(key);
      return entry?.repo ?? null;
    } catch {
      // An eviction (e.g. a delete's NOTIFY) aborted the in-flight load: what it was loading
      // may already be stale, so read the database directly instead of serving it.
      return this.load(owner, slug);
    }
  }

  /** Forget one owner/slug (e.g. a negative entry once a repo of that name is created). */
  evictName(owner: string, slug: string): void {
    this.cache.delete(keyOf(owner, slug));
  }

  /** Default branch and heads of a live repo; null when it is gone. */
  async refs(repoId: string): Promise<RepoRefs | null> {
    if (this.bypass || !this.loadRefs) return (await this.loadRefs?.(repoId)) ?? null;
    const hit = this.refsCache.get(repoId);
    if (hit) {
      this.stats.refsHits++;
      return hit.refs;
    }
    this.stats.refsMisses++;
    try {
      const entry = await this.refsCache.fetch(repoId);
      return entry?.refs ?? null;
    } catch {
      return (await this.loadRefs(repoId)) ?? null; // load aborted by an eviction: see resolve()
    }
  }

  /** A message from the invalidation channel (another process, or this one, changed a repo). */
  invalidate(msg: Invalidation): void {
    if (msg.repoId) this.evictRepo(msg.repoId);
    if (msg.owner && msg.slug) this.evictName(msg.owner, msg.slug);
  }

  /** Forget a repo by id (after delete, restore, push, a collaborator change, rename or a visibility change). */
  evictRepo(repoId: string): void {
    this.refsCache.delete(repoId);
    for (const key of [...(this.keysByRepoId.get(repoId) ?? [])]) this.cache.delete(key);
    this.keysByRepoId.delete(repoId);
  }

  clear(): void {
    this.cache.clear();
    this.refsCache.clear();
    this.keysByRepoId.clear();
  }
}
