import { Migration } from '@mikro-orm/migrations';

/**
 * Soft delete: proposals get deleted_at; every table the delete cascade touches gets the
 * deletion_id that lets a restore revive exactly those rows; (owner, slug) becomes unique
 * among live repos only; an append-only audit log; and a guard that makes a hard DELETE of
 * a repo row impossible.
 */
export class Migration20261128020000_soft_delete extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE musehub_proposals ADD COLUMN deleted_at timestamptz NULL;
      CREATE INDEX ix_musehub_proposals_deleted_at ON musehub_proposals (deleted_at);

      ALTER TABLE musehub_repos
        ADD COLUMN deleted_by uuid NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        ADD COLUMN deletion_id uuid NULL;
      ALTER TABLE musehub_issues ADD COLUMN deletion_id uuid NULL;
      ALTER TABLE musehub_issue_comments ADD COLUMN deletion_id uuid NULL;
      ALTER TABLE musehub_proposals ADD COLUMN deletion_id uuid NULL;
      ALTER TABLE musehub_proposal_comments ADD COLUMN deletion_id uuid NULL;
      ALTER TABLE musehub_webhooks ADD COLUMN deletion_id uuid NULL;
      CREATE INDEX ix_musehub_issues_deletion_id ON musehub_issues (deletion_id) WHERE deletion_id IS NOT NULL;
      CREATE INDEX ix_musehub_issue_comments_deletion_id ON musehub_issue_comments (deletion_id) WHERE deletion_id IS NOT NULL;
      CREATE INDEX ix_musehub_proposals_deletion_id ON musehub_proposals (deletion_id) WHERE deletion_id IS NOT NULL;
      CREATE INDEX ix_musehub_proposal_comments_deletion_id ON musehub_proposal_comments (deletion_id) WHERE deletion_id IS NOT NULL;
      CREATE INDEX ix_musehub_webhooks_deletion_id ON musehub_webhooks (deletion_id) WHERE deletion_id IS NOT NULL;
      CREATE INDEX ix_musehub_issues_repo_id ON musehub_issues (repo_id);
      CREATE INDEX ix_musehub_proposals_repo_id_live ON musehub_proposals (repo_id) WHERE deleted_at IS NULL;

      -- A name is unique among live repos only, so it can be reused after a delete.
      ALTER TABLE musehub_repos DROP CONSTRAINT musehub_repos_owner_slug_key;
      CREATE UNIQUE INDEX ux_musehub_repos_owner_slug_live ON musehub_repos (owner, slug) WHERE deleted_at IS NULL;

      CREATE TABLE musehub_audit_events (
        event_id uuid PRIMARY KEY,
        occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor_user_id uuid NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        action text NOT NULL,
        repo_id uuid NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        deletion_id uuid NULL,
        details jsonb NOT NULL DEFAULT '{}'
      );
      CREATE INDEX ix_musehub_audit_events_repo_id ON musehub_audit_events (repo_id, occurred_at);

      CREATE FUNCTION musehub_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% on % is not allowed: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
          USING ERRCODE = 'restrict_violation';
      END $$;
      CREATE TRIGGER musehub_repos_no_hard_delete BEFORE DELETE ON musehub_repos
        FOR EACH ROW EXECUTE FUNCTION musehub_refuse_change('repos are soft-deleted (set deleted_at)');
      CREATE TRIGGER musehub_audit_events_append_only BEFORE UPDATE OR DELETE ON musehub_audit_events
        FOR EACH ROW EXECUTE FUNCTION musehub_refuse_change('the audit log is append-only');
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DROP TRIGGER musehub_audit_events_append_only ON musehub_audit_events;
      DROP TRIGGER musehub_repos_no_hard_delete ON musehub_repos;
      DROP FUNCTION musehub_refuse_change();
      DROP TABLE musehub_audit_events;

      -- Fails (and rolls back) if a name was reused after a delete: the old schema cannot hold that.
      DROP INDEX ux_musehub_repos_owner_slug_live;
      ALTER TABLE musehub_repos ADD CONSTRAINT musehub_repos_owner_slug_key UNIQUE (owner, slug);

      DROP INDEX ix_musehub_proposals_repo_id_live;
      DROP INDEX ix_musehub_issues_repo_id;
      ALTER TABLE musehub_webhooks DROP COLUMN deletion_id;
      ALTER TABLE musehub_proposal_comments DROP COLUMN deletion_id;
      ALTER TABLE musehub_proposals DROP COLUMN deletion_id;
      ALTER TABLE musehub_issue_comments DROP COLUMN deletion_id;
      ALTER TABLE musehub_issues DROP COLUMN deletion_id;
      ALTER TABLE musehub_repos DROP COLUMN deletion_id, DROP COLUMN deleted_by;
      DROP INDEX ix_musehub_proposals_deleted_at;
      ALTER TABLE musehub_proposals DROP COLUMN deleted_at;
    `);
  }
}
