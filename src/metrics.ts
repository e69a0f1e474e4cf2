import type { MikroORM } from '@mikro-orm/postgresql';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { LivenessListener } from './db/liveness-listener.ts';
import type { GcScheduler } from './integrity/gc.scheduler.ts';
import type { Semaphore } from './middleware/limits.ts';
import type { RepoLivenessCache } from './repos/index.ts';
import type { PurgeScheduler } from './repos/purge.scheduler.ts';
import { RequestDurations } from './request-durations.ts';
import type { TokenCache } from './users/index.ts';

export interface MetricsSources {
  orm: MikroORM;
  cache: RepoLivenessCache;
  tokens: TokenCache;
  listener: LivenessListener;
  poolMax: number;
}

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/**
 * One Prometheus registry per gateway process (GET /metrics). Request metrics are labelled by
 * the route *pattern* (`/:owner/:slug/refs`), never the path: no repo or user name, private
 * or deleted, appears in a label, and cardinality stays fixed. Cache, listener and pool
 * figures are read when scraped, so they cost nothing per request.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly duration = new RequestDurations(
    'musehub_http_request_duration_seconds',
    'Request latency by route pattern and status; its _count is the request count.',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  private readonly tombstones: Counter<'table'>;
  /** Under --workers: asks the primary for every worker's figures, summed. */
  clusterText: (() => Promise<string>) | undefined;

  private readonly orm: MikroORM;

  constructor(sources: MetricsSources) {
    const { registry } = this;
    this.orm = sources.orm;
    collectDefaultMetrics({ register: registry });
    registry.registerMetric(this.duration as unknown as Parameters<Registry['registerMetric']>[0]);
    this.tombstones = new Counter({
      name: 'musehub_tombstones_written_total',
      help: 'Rows tombstoned by repo deletes, by table.',
      labelNames: ['table'],
      registers: [registry],
    });
    const fromStats = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    const { cache, tokens, listener } = sources;
    fromStats('musehub_repo_cache_hits_total', 'Repo liveness cache hits.', () => cache.stats.hits);
    fromStats(
      'musehub_repo_cache_misses_total',
      'Repo liveness cache misses (database lookups).',
      () => cache.stats.misses,
    );
    fromStats(
      'musehub_repo_cache_evictions_total',
      'Repo liveness entries dropped: invalidations and capacity.',
      () => cache.stats.evictions,
    );
    fromStats('musehub_refs_cache_hits_total', 'Branch-heads cache hits.', () => cache.stats.refsHits);
    fromStats('musehub_refs_cache_misses_total', 'Branch-heads cache misses.', () => cache.stats.refsMisses);
    fromStats('musehub_token_cache_hits_total', 'Token cache hits.', () => tokens.stats.hits);
    fromStats('musehub_token_cache_misses_total', 'Token cache misses.', () => tokens.stats.misses);
    fromStats(
      'musehub_invalidations_received_total',
      'NOTIFY messages received on the invalidation channel.',
      () => listener.stats.notifications,
    );
    fromStats('musehub_listener_reconnects_total', 'LISTEN session re-established.', () => listener.stats.reconnects);
    const pool = () =>
      (sources.orm.em.getConnection() as unknown as { getKnex(): { client: { pool?: TarnPool } } }).getKnex().client
        .pool;
    const poolGauge = (name: string, help: string, read: (p: TarnPool) => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const p = pool();
          this.set(p ? read(p) : 0);
        },
      });
    poolGauge('musehub_db_pool_used', 'Database connections in use.', (p) => p.numUsed());
    poolGauge('musehub_db_pool_free', 'Idle database connections in the pool.', (p) => p.numFree());
    poolGauge('musehub_db_pool_pending', 'Requests waiting for a database connection.', (p) => p.numPendingAcquires());
    new Gauge({ name: 'musehub_db_pool_max', help: 'Configured pool size.', registers: [registry] }).set(
      sources.poolMax,
    );
  }

  /** A gauge read when scraped; across the cluster's workers, summed or the largest. */
  private readonly gauge = (name: string, help: string, aggregator: 'sum' | 'max', read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [this.registry],
      aggregator,
      collect() {
        this.set(read());
      },
    });

  /** MCP tool and resource calls running and waiting for a slot (MUSEHUB_MCP_MAX_CONCURRENT_CALLS). */
  watchMcpCalls(slots: Semaphore): void {
    this.gauge('musehub_mcp_calls_running', 'MCP tool and resource calls running.', 'sum', () => slots.running);
    this.gauge(
      'musehub_mcp_calls_queued',
      'MCP tool and resource calls waiting for a slot.',
      'sum',
      () => slots.queued,
    );
  }

  /** The retention purge: when it last ran in the cluster, how long it took, how many repos it removed. */
  watchPurges(purges: Pick<PurgeScheduler, 'lastRun' | 'purgedTotal'>): void {
    this.gauge(
      'musehub_repos_purged_total',
      'Deleted repos purged after their retention window.',
      'sum',
      () => purges.purgedTotal,
    );
    const orm = this.orm;
    new Gauge({
      name: 'musehub_repos_awaiting_purge',
      help: 'Deleted repos still restorable: purged when their retention window runs out, or by their owner.',
      registers: [this.registry],
      // Every process counts the same rows.
      aggregator: 'max',
      async collect() {
        const [row] = await orm.em
          .fork()
          .getConnection()
          .execute<{ n: number }[]>('SELECT count(*)::int AS n FROM musehub_repos WHERE deleted_at IS NOT NULL');
        this.set(row?.n ?? 0);
      },
    });
    this.gauge('musehub_purge_last_run_timestamp_seconds', 'When a scheduled purge last ran (0: never).', 'max', () =>
      purges.lastRun ? purges.lastRun.at.getTime() / 1000 : 0,
    );
    this.gauge(
      'musehub_purge_last_run_duration_seconds',
      'How long the last scheduled purge took.',
      'max',
      () => purges.lastRun?.seconds ?? 0,
    );
  }

  /** Scheduled garbage collection: what it reclaimed, and when the last one ran and for how long. */
  watchGc(gc: Pick<GcScheduler, 'lastRun' | 'totals'>): void {
    this.gauge(
      'musehub_gc_reclaimed_objects_total',
      'Object copies removed by scheduled garbage collection.',
      'sum',
      () => gc.totals.objects,
    );
    this.gauge(
      'musehub_gc_reclaimed_bytes_total',
      'Bytes removed by scheduled garbage collection.',
      'sum',
      () => gc.totals.bytes,
    );
    this.gauge(
      'musehub_gc_packs_merged_total',
      'Packs rewritten (merged or stripped) by scheduled garbage collection.',
      'sum',
      () => gc.totals.packsMerged,
    );
    this.gauge(
      'musehub_gc_last_run_timestamp_seconds',
      'When a scheduled garbage collection last finished (0: never).',
      'max',
      () => (gc.lastRun ? gc.lastRun.at.getTime() / 1000 : 0),
    );
    this.gauge(
      'musehub_gc_last_run_duration_seconds',
      'How long the last scheduled garbage collection took.',
      'max',
      () => gc.lastRun?.report.seconds ?? 0,
    );
  }

  /** One answered request, labelled by the route pattern that answered it (never the path). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.duration.observe(method, route, status, seconds);
  }

  /** The text GET /metrics answers: this process, or the whole cluster when running as a worker. */
  async render(): Promise<string> {
    return this.clusterText ? this.clusterText() : this.registry.metrics();
  }

  countTombstones(counts: Record<string, number> | null): void {
    for (const [table, n] of Object.entries(counts ?? {})) if (n) this.tombstones.inc({ table }, n);
  }
}
