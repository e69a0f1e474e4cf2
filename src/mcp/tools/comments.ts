import { z } from 'zod';
import { CommentInput } from '../../hub/comment.schema.ts';
import { addComment } from '../../hub/comment.service.ts';
import { requireRepoAccessTo } from '../../repos/access.ts';
import { Number_, RepoRef, type ToolKit, WRITE } from '../kit.ts';

/** Comments on issues and proposals: one tool per thread kind, as MuseHub names them. */
export function registerCommentTools({ tool }: ToolKit) {
  const commentTool = (name: string, thread: 'issue' | 'proposal', what: string) =>
    tool(
      name,
      {
        title: `Comment on ${what}`,
        description: `Adds a comment to ${what} (signed in, able to read the repo).`,
        input: { ...RepoRef, number: Number_, ...CommentInput.shape },
        output: { commentId: z.string(), number: z.number() },
        annotations: WRITE,
      },
      async (args, { em, user }) => {
        const a = await requireRepoAccessTo(em, user, args, 'comment');
        const c = await addComment(em, a, thread, args.number, args.body);
        return { text: `commented on #${args.number}`, data: { commentId: c.commentId, number: args.number } };
      },
    );
  commentTool('musehub_create_issue_comment', 'issue', 'an issue');
  commentTool('musehub_create_pr_comment', 'proposal', 'a proposal');
}
