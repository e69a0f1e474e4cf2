import { z } from '@hono/zod-openapi';
import { oneLineText } from '../text.ts';

/** An issue's or a proposal's title: one line (a newline would forge a second one in a list). */
export const ThreadTitle = oneLineText(256);

/** An issue's or a proposal's body: free text, tab and newline kept. */
export const ThreadBody = z.string().max(65_536);
