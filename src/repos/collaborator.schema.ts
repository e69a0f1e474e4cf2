import { z } from '@hono/zod-openapi';

/** A collaborator as REST shows it. */
export const CollaboratorJson = z
  .object({
    username: z.string(),
    userId: z.string().uuid(),
    permission: z.enum(['read', 'write', 'admin']),
    createdAt: z.string(),
  })
  .openapi('Collaborator');
