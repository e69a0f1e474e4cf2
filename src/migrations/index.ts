import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261128000000_hub_schema } from './Migration20261128000000_hub_schema.ts';
import { Migration20261128020000_soft_delete } from './Migration20261128020000_soft_delete.ts';
import { Migration20261128040000_object_blobs } from './Migration20261128040000_object_blobs.ts';
import { Migration20261130000000_packed_objects } from './Migration20261130000000_packed_objects.ts';
import { Migration20261130020000_web_sessions } from './Migration20261130020000_web_sessions.ts';
import { Migration20261204000000_forks_follow_access } from './Migration20261204000000_forks_follow_access.ts';
import { Migration20261205000000_purge } from './Migration20261205000000_purge.ts';
import { Migration20261205020000_stored_at } from './Migration20261205020000_stored_at.ts';
import { Migration20261206000000_repo_renames } from './Migration20261206000000_repo_renames.ts';

/**
 * Every migration, oldest first. Listed statically so the migrator never has to
 * import .ts files by path (which fails under vitest and in bundles).
 * `npm run migration:create` writes a new file here: add it to this list.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261128000000_hub_schema', class: Migration20261128000000_hub_schema },
  { name: 'Migration20261128020000_soft_delete', class: Migration20261128020000_soft_delete },
  { name: 'Migration20261128040000_object_blobs', class: Migration20261128040000_object_blobs },
  { name: 'Migration20261130000000_packed_objects', class: Migration20261130000000_packed_objects },
  { name: 'Migration20261130020000_web_sessions', class: Migration20261130020000_web_sessions },
  { name: 'Migration20261204000000_forks_follow_access', class: Migration20261204000000_forks_follow_access },
  { name: 'Migration20261205000000_purge', class: Migration20261205000000_purge },
  { name: 'Migration20261205020000_stored_at', class: Migration20261205020000_stored_at },
  { name: 'Migration20261206000000_repo_renames', class: Migration20261206000000_repo_renames },
];
