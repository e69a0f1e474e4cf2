import { z } from '@hono/zod-openapi';

/** A webhook as REST shows it (never its secret). */
export const WebhookJson = z
  .object({
    webhookId: z.string().uuid(),
    repoId: z.string().uuid(),
    url: z.string(),
    events: z.array(z.string()),
    active: z.boolean(),
    createdAt: z.string(),
  })
  .openapi('Webhook');

export const CreateWebhook = z
  .object({
    url: z.string().min(1).max(2048),
    events: z.array(z.string().max(64)).min(1).max(32).openapi({
      description:
        "Events to deliver: `*`, the gateway's own names (`push`, `issue.opened`, `issue.closed`, `issue.reopened`, `issue_comment.created`, `proposal.opened`, `proposal.closed`, `proposal.merged`, `proposal.reopened`, `proposal_comment.created`), or a group as MuseHub and GitHub name them: `issue` / `issues` (every issue event), `issue_comment` (comments on issues and proposals), `pull_request` / `proposal` (every proposal event), `proposal_comment`. X-MuseHub-Event carries the gateway's own name.",
    }),
    secret: z.string().max(256).optional().openapi({
      description:
        'HMAC-SHA256 key for X-MuseHub-Signature-256; generated (and shown once) when omitted; an empty string means no secret and no signature header',
    }),
    active: z.boolean().optional(),
  })
  .openapi('CreateWebhook');
