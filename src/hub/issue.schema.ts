import { z } from '@hono/zod-openapi';
import { oneLineText } from '../text.ts';
import { ThreadBody, ThreadTitle } from './thread.schema.ts';

/** An issue as REST, MCP and the pages show it. */
export const IssueJson = z
  .object({
    issueId: z.string().uuid(),
    repoId: z.string().uuid(),
    number: z.number().int(),
    title: z.string(),
    body: z.string(),
    state: z.enum(['open', 'closed']),
    author: z.string(),
    labels: z.array(z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
    closedAt: z.string().nullable(),
  })
  .openapi('Issue');

/** A label's name: one line. */
export const Label = oneLineText(50);

export const CreateIssue = z
  .object({ title: ThreadTitle, body: ThreadBody.optional(), labels: z.array(Label).max(50).optional() })
  .openapi('CreateIssue');
export const PatchIssue = z
  .object({ title: ThreadTitle.optional(), body: ThreadBody.optional(), state: z.enum(['open', 'closed']).optional() })
  .openapi('PatchIssue');
