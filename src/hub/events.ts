import type { EntityManager } from '@mikro-orm/postgresql';

export const WEBHOOK_EVENTS = [
  'issue.opened',
  'issue.closed',
  'issue.reopened',
  'issue_comment.created',
  'proposal.opened',
  'proposal.closed',
  'proposal.merged',
  'proposal.reopened',
  'proposal_comment.created',
  'push',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * Records one pending delivery per active webhook of the repo that subscribes to `event`.
 * Call it inside the transaction that makes the change (an outbox): the event exists
 * exactly when the change committed. The dispatcher sends it later.
 */
export async function enqueueEvent(
  em: EntityManager,
  repoId: string,
  event: WebhookEvent,
  payload: Record<string, unknown>,
): Promise<void> {
  const body = JSON.stringify({ event, ...payload });
  await em.getConnection().execute(
    `INSERT INTO musehub_webhook_deliveries (delivery_id, webhook_id, repo_id, event, payload)
     SELECT gen_random_uuid(), w.webhook_id, w.repo_id, ?, ?::jsonb
       FROM musehub_webhooks w
      WHERE w.repo_id = ? AND w.active AND (? = ANY (w.events) OR '*' = ANY (w.events))`,
    [event, body, repoId, event],
    'run',
    em.getTransactionContext(),
  );
}
