import { z } from '@hono/zod-openapi';

/** A comment on an issue or a proposal, as REST and MCP show it. */
export const CommentJson = z
  .object({
    commentId: z.string().uuid(),
    author: z.string(),
    body: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Comment');

/** A new comment's text. */
export const CommentInput = z.object({ body: z.string().trim().min(1).max(65_536) }).openapi('CommentInput');
