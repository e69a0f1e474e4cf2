import { createRoute, z } from '@hono/zod-openapi';
import { repoAccess } from '../middleware/repo-access.ts';
import type { WebhookTargetPolicy } from '../net/webhook-target.ts';
import { createRouter, errorResponses, json, jsonBody, NoContent, RepoIdParam } from '../openapi.ts';
import { webhookToJson } from './webhook.json.ts';
import { CreateWebhook, WebhookJson } from './webhook.schema.ts';
import { createWebhook, deleteWebhook, listWebhooks } from './webhook.service.ts';

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
      return c.json({ ...webhookToJson(webhook), secret }, 201);
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
      return c.json({ webhooks: hooks.map(webhookToJson) }, 200);
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
