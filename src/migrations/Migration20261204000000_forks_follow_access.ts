import { Migration } from '@mikro-orm/migrations';

/**
 * Private forks follow access to their parent (GitHub's rule): deleting a private repo deletes its
 * private forks, each with its own deletion_id, and `deleted_with` records the deletion that took
 * it along, so restoring that deletion brings exactly those forks back.
 */
export class Migration20261204000000_forks_follow_access extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE musehub_repos ADD COLUMN deleted_with uuid;
      CREATE INDEX ix_musehub_repos_deleted_with ON musehub_repos (deleted_with) WHERE deleted_with IS NOT NULL;
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP INDEX ix_musehub_repos_deleted_with; ALTER TABLE musehub_repos DROP COLUMN deleted_with;');
  }
}
