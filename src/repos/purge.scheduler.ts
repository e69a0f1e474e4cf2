import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.ts';
import { Repeating } from '../repeating.ts';
import { DAY_MS } from './delete.service.ts';
import { purgeExpired } from './purge.service.ts';

/**
 * Purges deleted repos whose retention window has run out, every `intervalMs`, in every gateway
 * process — but the purge holds a cluster-wide advisory lock, so one process does the work and
 * the others find it taken and wait for their next turn. Off when retention is 0 (kept forever).
 */
export class PurgeScheduler {
  private readonly repeating: Repeating;
  /** What the last pass of this process did (for /metrics): null before it ran or got the lock. */
  lastRun: { at: Date; seconds: number; purged: number } | null = null;
  /** Repos this process has purged since it started. */
  purgedTotal = 0;

  constructor(
    private readonly orm: MikroORM,
    private readonly log: Logger,
    private readonly opts: { deletedRepoDays: number; purgeIntervalMs: number },
  ) {
    // The first run soon after start, not a whole interval later.
    this.repeating = new Repeating(() => this.runOnce(), {
      intervalMs: opts.purgeIntervalMs,
      firstMs: Math.min(opts.purgeIntervalMs, 10_000),
      log,
      failure: 'scheduled purge failed',
    });
  }

  start(): void {
    if (this.opts.deletedRepoDays) this.repeating.start();
  }

  /** One pass: purges what is due now (nothing when another process holds the purge lock). */
  async runOnce(): Promise<void> {
    const started = performance.now();
    const before = new Date(Date.now() - this.opts.deletedRepoDays * DAY_MS);
    const result = await purgeExpired(this.orm.em.fork(), before);
    if (!result) return;
    this.purgedTotal += result.purged.length;
    this.lastRun = { at: new Date(), seconds: (performance.now() - started) / 1000, purged: result.purged.length };
    for (const r of result.purged) {
      this.log.info(
        { repoId: r.repoId, owner: r.owner, slug: r.slug, unreferenced: r.unreferenced },
        'deleted repo purged after its retention window',
      );
    }
    for (const s of result.skipped) this.log.warn(s, 'deleted repo not purged');
  }

  stop(): Promise<void> {
    return this.repeating.stop();
  }
}
