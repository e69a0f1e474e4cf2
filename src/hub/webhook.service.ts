import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { BadRequestError, NotFoundError, repoNotFound } from '../errors.ts';
import { lockLiveRepo } from '../history/history.store.ts';
import { requireRepoAccess } from '../repos/index.ts';
import type { AuthUser } from '../users/index.ts';
import { WEBHOOK_EVENTS } from './events.ts';
import { type Webhook, WebhookSchema } from './hub.entity.ts';

export interface WebhookInput {
  url: string;
  events: string[];
  secret?: string | undefined;
  active?: boolean | undefined;
}

export function validateWebhookUrl(raw: string): string {
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
  return url.toString();
}

function validateEvents(events: string[]): string[] {
  const allowed = new Set<string>([...WEBHOOK_EVENTS, '*']);
  const unknown = events.filter((e) => !allowed.has(e));
  if (!events.length || unknown.length) {
    throw new BadRequestError(
      `events must be a non-empty list of: *, ${WEBHOOK_EVENTS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
      'invalid_webhook_events',
    );
  }
  return [...new Set(events)];
}

/** Creates a webhook (repo admins). Returns the secret this once; lists never show it. */
export async function createWebhook(
  em: EntityManager,
  user: AuthUser | null,
  repoId: string,
  input: WebhookInput,
): Promise<{ webhook: Webhook; secret: string }> {
  await requireRepoAccess(em, user, repoId, 'admin');
  const secret = input.secret ?? randomBytes(24).toString('base64url');
  const url = validateWebhookUrl(input.url);
  const events = validateEvents(input.events);
  const webhook = await em.transactional(async (tx) => {
    // As for issues: a webhook cannot appear under a repo whose delete already ran.
    if (!(await lockLiveRepo(tx, repoId))) throw repoNotFound();
    const hook = tx.create(WebhookSchema, {
      webhookId: randomUUID(),
      repoId,
      url,
      events,
      secret,
      active: input.active ?? true,
      createdBy: user!.userId,
    });
    await tx.flush();
    return hook;
  });
  return { webhook, secret };
}

export async function listWebhooks(em: EntityManager, user: AuthUser | null, repoId: string): Promise<Webhook[]> {
  await requireRepoAccess(em, user, repoId, 'admin');
  return em.find(WebhookSchema, { repoId }, { orderBy: { createdAt: 'asc', webhookId: 'asc' } });
}

/** Removes a webhook and its delivery log (an explicit user action, not the repo-delete path). */
export async function deleteWebhook(em: EntityManager, user: AuthUser | null, repoId: string, webhookId: string) {
  await requireRepoAccess(em, user, repoId, 'admin');
  await em.transactional(async (tx) => {
    const hook = /^[0-9a-f-]{36}$/i.test(webhookId) ? await tx.findOne(WebhookSchema, { webhookId, repoId }) : null;
    if (!hook) throw new NotFoundError('webhook not found', 'webhook_not_found');
    await tx
      .getConnection()
      .execute(
        'DELETE FROM musehub_webhook_deliveries WHERE webhook_id = ?',
        [webhookId],
        'run',
        tx.getTransactionContext(),
      );
    tx.remove(hook);
  });
}
