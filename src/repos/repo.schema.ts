import { z } from '@hono/zod-openapi';
import { BranchNameSchema, repoNameSchema } from './names.ts';

/** A repo as REST and MCP show it. */
export const RepoSchemaJson = z
  .object({
    repoId: z.string().uuid(),
    owner: z.string(),
    ownerUserId: z.string().uuid(),
    slug: z.string(),
    name: z.string(),
    description: z.string(),
    visibility: z.enum(['public', 'private']),
    defaultBranch: z.string(),
    forkParentId: z.string().uuid().nullable(),
    cloneUrl: z.string().openapi({ description: 'The remote URL for `muse clone`' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    pushedAt: z.string().nullable(),
  })
  .openapi('Repo');

export const RepoListSchema = z
  .object({ repos: z.array(RepoSchemaJson), nextCursor: z.string().nullable() })
  .openapi('RepoList');

export const CreateRepoSchema = z
  .object({
    name: repoNameSchema().openapi({ example: 'Neo Soul' }),
    description: z.string().max(2000).optional(),
    visibility: z.enum(['public', 'private']).optional().openapi({ description: 'Default: private' }),
    defaultBranch: BranchNameSchema.optional().openapi({ description: "Default: main. Git's branch-name rules apply" }),
  })
  .openapi('CreateRepo');

/** PATCH /repos/{repo_id}: what changes; at least one field. */
export const UpdateRepoSchema = z
  .object({
    name: repoNameSchema()
      .optional()
      .openapi({ description: 'A new name, and with it a new slug; the old name keeps leading to the repo' }),
    description: z.string().max(2000).optional(),
    visibility: z.enum(['public', 'private']).optional(),
  })
  .strict()
  .openapi('UpdateRepo');

/** The owner's deleted repos (GET /user/deleted-repos). */
export const DeletedRepoListSchema = z
  .object({
    repos: z.array(
      z.object({
        repoId: z.string().uuid(),
        owner: z.string(),
        slug: z.string(),
        name: z.string(),
        visibility: z.string(),
        deletedAt: z.string(),
        deletedBy: z.string().nullable(),
        tombstoned: z.record(z.string(), z.number()).openapi({ description: 'Rows the delete tombstoned, per table' }),
        nameFree: z
          .boolean()
          .openapi({ description: 'False when a live repo has taken owner/slug: restore would be 409' }),
        purgeAt: z.string().nullable().openapi({
          description:
            'When it is purged for good (MUSEHUB_DELETED_REPO_RETENTION_DAYS after the delete); null while deleted repos are kept',
        }),
        cause: z.enum(['parent_deleted', 'access_lost']).nullable().openapi({
          description:
            'Set when someone else deleted it: a private fork goes with its deleted parent (and comes back with it), or when its owner loses access to the parent',
        }),
      }),
    ),
  })
  .openapi('DeletedRepoList');

/** What a purge removed: the repo and the deleted private forks that went with it. */
export const PurgeResultSchema = z
  .object({
    purged: z.array(
      z.object({
        repoId: z.string().uuid(),
        owner: z.string(),
        slug: z.string(),
        counts: z.record(z.string(), z.number()).openapi({ description: 'Rows removed, per table' }),
        unreferenced: z.object({ objects: z.number(), bytes: z.number() }).openapi({
          description: 'Objects no remaining repo names any more (their bytes are reclaimed by garbage collection)',
        }),
      }),
    ),
  })
  .openapi('PurgeResult');
