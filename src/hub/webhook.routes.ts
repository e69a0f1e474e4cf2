import { createRoute, z } from '@hono/zod-openapi';
import { repoAccess } from '../middleware/repo-access.ts';
import { createRouter, errorResponses, json, jsonBody, NoContent, RepoIdParam } from '../openapi.ts';
import type { Webhook } from './hub.entity.ts';
import { createWebhook, deleteWebhook, listWebhooks } from './webhook.service.ts';
import type { WebhookTargetPolicy } from './webhook-target.ts';

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

const CreateWebhook = z
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

const toJson = (w: Webhook) => ({
  webhookId: w.webhookId,
  repoId: w.repoId,
  url: w.url,
  events: w.events,
  active: w.active,
  createdAt: w.createdAt.toISOString(),
});

/**
 * Deliveries are POSTed JSON with X-MuseHub-Signature-256: sha256=HMAC(secret, body), only to
 * addresses the target policy allows. Repo admins only.
 */
export function webhookRoutes(policy: WebhookTargetPolicy) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/repos/{repo_id}/webhooks',
      middleware: [repoAccess('admin')] as const,
      tags: ['Webhooks'],
      summary: 'Create a webhook; the secret is shown in this response only',
      request: { params: RepoIdParam, body: jsonBody(CreateWebhook) },
      responses: {
        201: json(WebhookJson.extend({ secret: z.string() }), 'Created'),
        ...errorResponses(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { webhook, secret } = await createWebhook(c.var.em, c.var.access, c.req.valid('json'), policy);
      return c.json({ ...toJson(webhook), secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/repos/{repo_id}/webhooks',
      middleware: [repoAccess('admin')] as const,
      tags: ['Webhooks'],
      summary: "List a repo's webhooks (secrets are never shown)",
      request: { params: RepoIdParam },
      responses: {
        200: json(z.object({ webhooks: z.array(WebhookJson) }), 'Webhooks'),
        ...errorResponses(401, 403, 404),
      },
    }),
    async (c) => {
      const hooks = await listWebhooks(c.var.em, c.var.access);
      return c.json({ webhooks: hooks.map(toJson) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/repos/{repo_id}/webhooks/{webhook_id}',
      middleware: [repoAccess('admin')] as const,
      tags: ['Webhooks'],
      summary: 'Delete a webhook',
      request: {
        params: RepoIdParam.extend({ webhook_id: z.string().openapi({ param: { name: 'webhook_id', in: 'path' } }) }),
      },
      responses: { ...NoContent, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      const { webhook_id } = c.req.valid('param');
      await deleteWebhook(c.var.em, c.var.access, webhook_id);
      return c.body(null, 204);
    },
  );
  return app;
}
