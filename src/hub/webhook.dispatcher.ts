import { createHmac } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';
import type { Logger } from '../logger.ts';
import { TargetRefusedError, WebhookTargetPolicy } from '../net/webhook-target.ts';
import { postWebhook } from './webhook.http.ts';

export interface DispatcherOptions {
  pollIntervalMs: number;
  /** Base of the exponential backoff between attempts: base, 2×base, 4×base, … */
  backoffMs: number;
  maxAttempts: number;
  timeoutMs: number;
  /** MUSEHUB_WEBHOOK_ALLOWED_HOSTS: what deliveries may reach beyond public addresses. */
  allowedHosts: readonly string[];
  batchSize?: number;
}

interface Claimed {
  delivery_id: string;
  webhook_id: string;
  event: string;
  payload: unknown;
  attempts: number;
  url: string;
  secret: string;
  active: boolean;
  repo_live: boolean;
}

export const signPayload = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/**
 * Sends pending webhook deliveries. Rows are claimed with FOR UPDATE SKIP LOCKED and leased by
 * pushing next_attempt_at past the request timeout, so several gateway processes never send
 * the same delivery at once, and a delivery claimed by a process that died is retried.
 */
export class WebhookDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly policy: WebhookTargetPolicy;

  constructor(
    private readonly orm: MikroORM,
    private readonly log: Logger,
    private readonly opts: DispatcherOptions,
  ) {
    this.policy = new WebhookTargetPolicy(opts.allowedHosts);
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((err) => this.log.warn({ err: String(err) }, 'webhook dispatch failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.pollIntervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.pollIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Claims and sends one batch; returns how many deliveries were attempted. */
  async runOnce(): Promise<number> {
    const leaseSeconds = Math.ceil(this.opts.timeoutMs / 1000) + 5;
    const claimed = await runSql<Claimed>(
      this.orm.em,
      `WITH claimed AS (
         UPDATE musehub_webhook_deliveries d
            SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => ?)
          WHERE d.delivery_id IN (
                SELECT delivery_id FROM musehub_webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at
                 LIMIT ? FOR UPDATE SKIP LOCKED)
          RETURNING d.delivery_id, d.webhook_id, d.repo_id, d.event, d.payload, d.attempts)
       -- Raw, and past the filter on purpose: a deleted repo's deliveries must be seen to be failed.
       SELECT c.*, w.url, w.secret, w.active, (${repoIsLive('r')}) AS repo_live
         FROM claimed c
         JOIN musehub_webhooks w ON w.webhook_id = c.webhook_id
         JOIN musehub_repos r ON r.repo_id = c.repo_id`,
      [leaseSeconds, this.opts.batchSize ?? 20],
    );
    await Promise.all(claimed.map((d) => this.deliver(d)));
    return claimed.length;
  }

  private async deliver(d: Claimed): Promise<void> {
    if (!d.active || !d.repo_live) {
      await runSql(
        this.orm.em,
        `UPDATE musehub_webhook_deliveries SET status = 'failed', last_error = ? WHERE delivery_id = ?`,
        [d.repo_live ? 'webhook is inactive' : 'repository was deleted', d.delivery_id],
      );
      return;
    }
    const body = JSON.stringify(d.payload);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'MuseHub-Hookshot/1',
      'x-musehub-event': d.event,
      'x-musehub-delivery': d.delivery_id,
    };
    // A webhook created without a secret gets no signature, as on MuseHub and GitHub.
    if (d.secret) headers['x-musehub-signature-256'] = signPayload(d.secret, body);
    let status: number | null = null;
    let error: string | null = null;
    let final = false;
    try {
      status = await postWebhook(this.policy, d.url, headers, body, this.opts.timeoutMs);
      if (status >= 300 && status < 400) error = `receiver answered ${status}; redirects are not followed`;
      else if (status < 200 || status >= 300) error = `receiver answered ${status}`;
    } catch (err) {
      const e = err as Error;
      // A refused address stays refused: fail now rather than retry it until the attempt limit.
      final = e instanceof TargetRefusedError;
      error =
        e.name === 'AbortError' || e.name === 'TimeoutError'
          ? `timed out after ${this.opts.timeoutMs} ms`
          : final
            ? `refused: ${e.message}`
            : String(e.cause ?? e);
    }
    if (!error) {
      await runSql(
        this.orm.em,
        `UPDATE musehub_webhook_deliveries
            SET status = 'delivered', delivered_at = now(), last_status_code = ?, last_error = NULL
          WHERE delivery_id = ?`,
        [status, d.delivery_id],
      );
      return;
    }
    const giveUp = final || d.attempts >= this.opts.maxAttempts;
    const backoffSeconds = (this.opts.backoffMs * 2 ** (d.attempts - 1)) / 1000;
    await runSql(
      this.orm.em,
      `UPDATE musehub_webhook_deliveries
          SET status = ?, last_status_code = ?, last_error = ?, next_attempt_at = now() + make_interval(secs => ?)
        WHERE delivery_id = ?`,
      [giveUp ? 'failed' : 'pending', status, error, backoffSeconds, d.delivery_id],
    );
    this.log.info({ deliveryId: d.delivery_id, attempt: d.attempts, error, giveUp }, 'webhook delivery failed');
  }
}
