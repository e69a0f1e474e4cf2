import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';

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

const ISSUE_EVENTS = ['issue.opened', 'issue.closed', 'issue.reopened'] as const;
const PROPOSAL_EVENTS = ['proposal.opened', 'proposal.closed', 'proposal.merged', 'proposal.reopened'] as const;

/**
 * Subscription names people already use, mapped onto the gateway's events: MuseHub's `issue`
 * and `pull_request`, GitHub's `issues`, `issue_comment` (which, as on GitHub, includes comments
 * on pull requests) and `pull_request`, and the gateway's own families `issue` and `proposal`.
 */
export const WEBHOOK_EVENT_GROUPS: Record<string, readonly WebhookEvent[]> = {
  issue: ISSUE_EVENTS,
  issues: ISSUE_EVENTS,
  issue_comment: ['issue_comment.created', 'proposal_comment.created'],
  pull_request: PROPOSAL_EVENTS,
  proposal: PROPOSAL_EVENTS,
  proposal_comment: ['proposal_comment.created'],
};

/** Every name a webhook may subscribe with. */
export const WEBHOOK_SUBSCRIPTIONS: readonly string[] = ['*', ...WEBHOOK_EVENTS, ...Object.keys(WEBHOOK_EVENT_GROUPS)];

/** The subscription names that receive `event`. */
export function subscriptionsFor(event: WebhookEvent): string[] {
  const groups = Object.entries(WEBHOOK_EVENT_GROUPS).filter(([, events]) => events.includes(event));
  return ['*', event, ...groups.map(([name]) => name)];
}

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
  await runSql(
    em,
    `INSERT INTO musehub_webhook_deliveries (delivery_id, webhook_id, repo_id, event, payload)
     SELECT gen_random_uuid(), w.webhook_id, w.repo_id, ?, ?::jsonb
       FROM musehub_webhooks w
      WHERE w.repo_id = ? AND w.active
        AND w.events && ARRAY(SELECT jsonb_array_elements_text(?::jsonb))`,
    // One JSON parameter: knex would expand a JS array into a list.
    [event, body, repoId, JSON.stringify(subscriptionsFor(event))],
  );
}
