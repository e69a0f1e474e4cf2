import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.ts';
import { Repeating } from '../repeating.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { collectGarbage, type GcReport } from './gc.ts';

/**
 * Garbage collection every `intervalMs` (MUSEHUB_GC_INTERVAL), tried by every gateway process:
 * the run lock lets one collect and the others skip their turn. Off when the interval is 0.
 */
export class GcScheduler {
  private readonly repeating: Repeating;
  /** This process's last collection (for /metrics): null before it ran one. */
  lastRun: { at: Date; report: GcReport } | null = null;
  /** What this process's collections reclaimed since it started. */
  readonly totals = { objects: 0, bytes: 0, packsMerged: 0 };

  constructor(
    private readonly orm: MikroORM,
    private readonly store: ObjectStore,
    private readonly log: Logger,
    private readonly opts: { intervalMs: number; graceMs: number },
  ) {
    // Not at start: a restart loop must not turn into a collection loop.
    this.repeating = new Repeating(async () => void (await this.runOnce()), {
      intervalMs: opts.intervalMs,
      firstMs: Math.min(opts.intervalMs, 600_000),
      log,
      failure: 'scheduled garbage collection failed',
    });
  }

  start(): void {
    if (this.opts.intervalMs) this.repeating.start();
  }

  async runOnce(): Promise<GcReport | null> {
    const report = await collectGarbage(this.orm, this.store, { graceMs: this.opts.graceMs });
    if (!report) return null;
    this.lastRun = { at: new Date(), report };
    this.totals.objects += report.removed.objects;
    this.totals.bytes += report.removed.bytes;
    this.totals.packsMerged += report.packs.retired;
    this.log.info(
      { removed: report.removed, packs: report.packs, orphans: report.orphans, seconds: report.seconds },
      'garbage collection finished',
    );
    return report;
  }

  stop(): Promise<void> {
    return this.repeating.stop();
  }
}
