import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { createdAt, updatedAt } from '../db/columns.ts';

export type Visibility = 'public' | 'private';
export type Permission = 'read' | 'write' | 'admin';

// Foreign keys are plain uuid columns, not ORM relations: a relation to a filtered
// entity turns into an automatic INNER JOIN (autoJoinRefsForFilters), which would make
// a live fork vanish when its parent is deleted. The constraints live in the migrations.
export const RepoSchema = defineEntity({
  name: 'Repo',
  tableName: 'musehub_repos',
  properties: {
    repoId: p.uuid().primary().fieldName('repo_id'),
    owner: p.text(),
    ownerUserId: p.uuid().fieldName('owner_user_id'),
    slug: p.text(),
    name: p.text(),
    description: p.text().default(''),
    visibility: p.enum(['public', 'private']).default('private'),
    defaultBranch: p.text().fieldName('default_branch').default('main'),
    forkParentId: p.uuid().fieldName('fork_parent_id').nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    pushedAt: p.datetime().fieldName('pushed_at').nullable(),
    deletedAt: p.datetime().fieldName('deleted_at').nullable(),
    deletedBy: p.uuid().fieldName('deleted_by').nullable(),
    /** Stamped on every row one delete tombstoned, so a restore revives exactly those. */
    deletionId: p.uuid().fieldName('deletion_id').nullable(),
    /** For a private fork deleted because its parent was: the parent's deletion_id (restored with it). */
    deletedWith: p.uuid().fieldName('deleted_with').nullable(),
  },
  filters: {
    // Default on: every find/findOne/count/nativeUpdate sees live repos only.
    // Code that must see tombstones turns it off by name: { filters: { liveRepos: false } }.
    liveRepos: { name: 'liveRepos', cond: { deletedAt: null }, default: true },
  },
});
export type Repo = InferEntity<typeof RepoSchema>;

export const CollaboratorSchema = defineEntity({
  name: 'Collaborator',
  tableName: 'musehub_collaborators',
  properties: {
    repoId: p.uuid().primary().fieldName('repo_id'),
    userId: p.uuid().primary().fieldName('user_id'),
    permission: p.enum(['read', 'write', 'admin']),
    createdAt: createdAt(),
  },
});
export type Collaborator = InferEntity<typeof CollaboratorSchema>;
