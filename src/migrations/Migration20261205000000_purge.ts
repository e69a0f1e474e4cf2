import { Migration } from '@mikro-orm/migrations';

/**
 * Purge: a deleted repo can be removed for good, through one sanctioned path. The guard on
 * musehub_repos still refuses every DELETE except of a row that is already soft-deleted and that
 * the transaction has named with `set_config('musehub.purging', <repo id>, true)` — which only
 * purgeRepos (repos/purge.service.ts) does. The audit log keeps its events about a purged repo:
 * its repo_id stops being a foreign key (the id is kept, as history, after the row is gone).
 */
export class Migration20261205000000_purge extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE musehub_audit_events DROP CONSTRAINT musehub_audit_events_repo_id_fkey;

      CREATE FUNCTION musehub_guard_repo_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.deleted_at IS NOT NULL AND current_setting('musehub.purging', true) = OLD.repo_id::text THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'DELETE on musehub_repos is not allowed: repos are soft-deleted (set deleted_at); only a purge of a deleted repo removes its row'
          USING ERRCODE = 'restrict_violation';
      END $$;
      DROP TRIGGER musehub_repos_no_hard_delete ON musehub_repos;
      CREATE TRIGGER musehub_repos_no_hard_delete BEFORE DELETE ON musehub_repos
        FOR EACH ROW EXECUTE FUNCTION musehub_guard_repo_delete();
      CREATE INDEX ix_musehub_repos_deleted_at ON musehub_repos (deleted_at) WHERE deleted_at IS NOT NULL;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DROP INDEX ix_musehub_repos_deleted_at;
      DROP TRIGGER musehub_repos_no_hard_delete ON musehub_repos;
      CREATE TRIGGER musehub_repos_no_hard_delete BEFORE DELETE ON musehub_repos
        FOR EACH ROW EXECUTE FUNCTION musehub_refuse_change('repos are soft-deleted (set deleted_at)');
      DROP FUNCTION musehub_guard_repo_delete();
      -- NOT VALID: events about repos purged meanwhile keep their ids; new events are checked again.
      ALTER TABLE musehub_audit_events ADD CONSTRAINT musehub_audit_events_repo_id_fkey
        FOREIGN KEY (repo_id) REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT NOT VALID;
    `);
  }
}
