import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRoute, z } from '@hono/zod-openapi';
import type { RestEnv } from '../app-env.ts';
import { requireUser } from '../middleware/auth.ts';
import { repoAccess } from '../middleware/repo-access.ts';
import { errorResponses, json, jsonBody, NoContent, NumberParam, PageQuerySchema, withNextLink } from '../openapi.ts';
import { commentsToJson, commentToJson } from './comment.json.ts';
import { CommentInput, CommentJson } from './comment.schema.ts';
import { addComment, deleteComment, listComments, type Thread } from './comment.service.ts';

/** POST/GET …/{issues|proposals}/{number}/comments and DELETE …/comments/{comment_id}. */
export function registerCommentRoutes(app: OpenAPIHono<RestEnv>, thread: Thread, publicUrl: string) {
  const base =
    thread === 'issue' ? '/repos/{repo_id}/issues/{number}/comments' : '/repos/{repo_id}/proposals/{number}/comments';
  const tags = [thread === 'issue' ? 'Issues' : 'Proposals'];

  app.openapi(
    createRoute({
      method: 'post',
      path: base,
      middleware: [repoAccess('comment')] as const,
      tags,
      summary: `Comment on ${thread === 'issue' ? 'an issue' : 'a proposal'}`,
      request: { params: NumberParam, body: jsonBody(CommentInput) },
      responses: { 201: json(CommentJson, 'Created'), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      const comment = await addComment(c.var.em, c.var.access, thread, number, c.req.valid('json').body);
      return c.json(commentToJson(comment, requireUser(c.var.user).username), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: base,
      middleware: [repoAccess('read')] as const,
      tags,
      summary: 'List comments, oldest first (deleted ones are not shown)',
      request: { params: NumberParam, query: PageQuerySchema },
      responses: {
        200: json(
          z.object({ comments: z.array(CommentJson), nextCursor: z.string().nullable() }),
          'A page of comments',
        ),
        ...errorResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { number } = c.req.valid('param');
      const page = c.req.valid('query');
      const { items, nextCursor } = await listComments(c.var.em, c.var.access, thread, number, page);
      const comments = await commentsToJson(c.var.em, items);
      return c.json({ comments, ...withNextLink(c, publicUrl, nextCursor, page.limit) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: `${base}/{comment_id}`,
      middleware: [repoAccess('comment')] as const,
      tags,
      summary: 'Delete a comment (its author or a repo admin); it disappears from lists',
      request: {
        params: NumberParam.extend({ comment_id: z.string().openapi({ param: { name: 'comment_id', in: 'path' } }) }),
      },
      responses: { ...NoContent, ...errorResponses(401, 403, 404) },
    }),
    async (c) => {
      const { number, comment_id } = c.req.valid('param');
      await deleteComment(c.var.em, c.var.access, thread, number, comment_id);
      return c.body(null, 204);
    },
  );
}
