import { usernamesById } from '../users/index.ts';
import type { CommentRecord } from './comment.service.ts';

/** A comment as REST and MCP show it: `author` is the author's username. */
export const commentToJson = (c: CommentRecord, author: string) => ({
  commentId: c.commentId,
  author,
  body: c.body,
  createdAt: c.createdAt.toISOString(),
  updatedAt: c.updatedAt.toISOString(),
});

/** Comments as REST and MCP show them, their authors' names read in one query. */
export async function commentsToJson(em: Parameters<typeof usernamesById>[0], rows: CommentRecord[]) {
  const names = await usernamesById(
    em,
    rows.map((r) => r.authorUserId),
  );
  return rows.map((r) => commentToJson(r, names.get(r.authorUserId) ?? ''));
}
