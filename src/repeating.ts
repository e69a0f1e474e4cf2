import type { Logger } from './logger.ts';

/**
 * A background job run every `intervalMs`, the first time `firstMs` after start; one run at a
 * time, never overlapping, a failure logged and the next run scheduled anyway. The timer is
 * unref'd: it never holds a process up, and stop() waits for a run in progress to finish.
 */
export class Repeating {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly job: () => Promise<void>,
    private readonly opts: { intervalMs: number; firstMs: number; log: Logger; failure: string },
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.job()
        .catch((err) => this.opts.log.warn({ err: String(err) }, this.opts.failure))
        .finally(() => {
          if (this.stopped) return;
          this.timer = setTimeout(tick, this.opts.intervalMs);
          this.timer.unref();
        });
    };
    this.timer = setTimeout(tick, this.opts.firstMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
