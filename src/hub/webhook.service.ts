import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';
import { BadRequestError, GatewayError, NotFoundError } from '../errors.ts';
import { TargetRefusedError, type WebhookTargetPolicy } from '../net/webhook-target.ts';
import type { RepoAccess } from '../repos/index.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import type { AuthUser } from '../users/index.ts';
import { WEBHOOK_SUBSCRIPTIONS } from './events.ts';
import { type Webhook, WebhookSchema } from './hub.entity.ts';

export interface WebhookInput {
  url: string;
  events: string[];
  secret?: string | undefined;
  active?: boolean | undefined;
}

/**
 * An absolute http(s) URL without credentials, whose host the target policy allows. A host that
 * does not resolve now is accepted: every delivery resolves and checks it again.
 */
export async function validateWebhookUrl(raw: string, policy: WebhookTargetPolicy): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadRequestError('url must be an absolute http:// or https:// URL', 'invalid_webhook_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadRequestError('url must be an absolute http:// or https:// URL', 'invalid_webhook_url');
  }
  if (url.username || url.password) {
    throw new BadRequestError(
      'url must not carry credentials; use the secret to authenticate deliveries',
      'invalid_webhook_url',
    );
  }
  try {
    if (!policy.allowsHostName(url.hostname)) await policy.resolve(url.hostname);
  } catch (err) {
    if (err instanceof TargetRefusedError) {
      throw new GatewayError(422, 'webhook_target_refused', `url: ${err.message}`);
    }
  }
  return url.toString();
}

function validateEvents(events: string[]): string[] {
  const allowed = new Set(WEBHOOK_SUBSCRIPTIONS);
  const unknown = events.filter((e) => !allowed.has(e));
  if (!events.length || unknown.length) {
    throw new BadRequestError(
      `events must be a non-empty list of: ${WEBHOOK_SUBSCRIPTIONS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
      'invalid_webhook_events',
    );
  }
  return [...new Set(events)];
}

/** Creates a webhook (repo admins). Returns the secret this once; lists never show it. */
export async function createWebhook(
  em: EntityManager,
  access: RepoAccess<AuthUser>,
  input: WebhookInput,
  policy: WebhookTargetPolicy,
): Promise<{ webhook: Webhook; secret: string }> {
  const repoId = access.repo.repoId;
  const me = access.user;
  // Omitted: one is generated (shown once). Empty: none, and deliveries carry no signature.
  const secret = input.secret ?? randomBytes(24).toString('base64url');
  const events = validateEvents(input.events);
  const url = await validateWebhookUrl(input.url, policy);
  const webhook = await inLiveRepo(em, repoId, async (tx) => {
    const hook = tx.create(WebhookSchema, {
      webhookId: randomUUID(),
      repoId,
      url,
      events,
      secret,
      active: input.active ?? true,
      createdBy: me.userId,
    });
    await tx.flush();
    return hook;
  });
  return { webhook, secret };
}

export async function listWebhooks(em: EntityManager, access: RepoAccess<AuthUser>): Promise<Webhook[]> {
  const repoId = access.repo.repoId;
  return em.find(WebhookSchema, { repoId }, { orderBy: { createdAt: 'asc', webhookId: 'asc' } });
}

/** Removes a webhook and its delivery log (an explicit user action, not the repo-delete path). */
export async function deleteWebhook(em: EntityManager, access: RepoAccess<AuthUser>, webhookId: string) {
  const repoId = access.repo.repoId;
  await inLiveRepo(em, repoId, async (tx) => {
    const hook = /^[0-9a-f-]{36}$/i.test(webhookId) ? await tx.findOne(WebhookSchema, { webhookId, repoId }) : null;
    if (!hook) throw new NotFoundError('webhook not found', 'webhook_not_found');
    await runSql(tx, 'DELETE FROM musehub_webhook_deliveries WHERE webhook_id = ?', [webhookId]);
    tx.remove(hook);
  });
}
