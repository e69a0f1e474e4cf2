import pg from 'pg';
import type { Logger } from '../logger.ts';
import { INVALIDATION_CHANNEL, type Invalidation, type InvalidationTarget } from './invalidation.ts';

/**
 * Keeps this process's caches (repo liveness and heads, tokens) coherent with every other
 * gateway process: a dedicated session LISTENs for the notifications a delete, restore,
 * create, push or token revocation sends at commit, and hands each to every cache. If the
 * session is lost, the caches are bypassed (every lookup asks the database) until a new
 * session listens again — so a missed notification can never leave a deleted repo or a
 * revoked token served from cache. Needs a session-mode connection (not PgBouncer
 * transaction pooling).
 */
export class LivenessListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  readonly stats = { notifications: 0, reconnects: 0 };

  constructor(
    private readonly url: string,
    private readonly targets: InvalidationTarget[],
    private readonly log: Logger,
    private readonly maxBackoffMs = 5_000,
  ) {}

  /** Resolves once listening (the first connection must work: the gateway cannot be coherent without it). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', (msg) => this.onNotification(msg.payload));
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    await client.connect();
    await client.query(`LISTEN ${INVALIDATION_CHANNEL}`);
    this.client = client;
  }

  private onNotification(payload: string | undefined): void {
    this.stats.notifications++;
    let msg: Invalidation;
    try {
      msg = JSON.parse(payload ?? '{}') as Invalidation;
    } catch {
      for (const t of this.targets) t.clear();
      return;
    }
    for (const t of this.targets) t.invalidate(msg);
  }

  private lost(client: pg.Client, err?: Error): void {
    if (this.client !== client || this.stopped) return;
    this.client = undefined;
    this.log.warn(
      { err: err ? String(err) : undefined },
      'liveness LISTEN connection lost; bypassing the cache until reconnected',
    );
    for (const t of this.targets) t.setBypass(true);
    client.end().catch(() => undefined);
    this.scheduleReconnect(100);
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.stopped) return;
    this.retry = setTimeout(async () => {
      try {
        await this.connect();
        this.stats.reconnects++;
        for (const t of this.targets) t.setBypass(false);
        this.log.info('liveness LISTEN connection restored');
      } catch {
        this.scheduleReconnect(Math.min(delayMs * 2, this.maxBackoffMs));
      }
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
