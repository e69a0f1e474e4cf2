import type { Webhook } from './hub.entity.ts';

/** A webhook as REST shows it: never its secret. */
export const webhookToJson = (w: Webhook) => ({
  webhookId: w.webhookId,
  repoId: w.repoId,
  url: w.url,
  events: w.events,
  active: w.active,
  createdAt: w.createdAt.toISOString(),
});
