import { Migration } from '@mikro-orm/migrations';

/**
 * The hub schema as it stands before soft delete. Never edit this file once landed:
 * later schema steps are new migrations. Foreign keys to a repo are ON DELETE RESTRICT,
 * so no row that belongs to a repo can disappear with it.
 */
export class Migration20261128000000_hub_schema extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE musehub_users (
        user_id uuid PRIMARY KEY,
        username text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT musehub_users_username_key UNIQUE (username)
      );

      CREATE TABLE musehub_tokens (
        token_id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        token_hash text NOT NULL,
        name text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NULL,
        revoked_at timestamptz NULL,
        CONSTRAINT musehub_tokens_token_hash_key UNIQUE (token_hash)
      );
      CREATE INDEX ix_musehub_tokens_user_id ON musehub_tokens (user_id);

      CREATE TABLE musehub_repos (
        repo_id uuid PRIMARY KEY,
        owner text NOT NULL,
        owner_user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        slug text NOT NULL,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        visibility text NOT NULL DEFAULT 'private' CHECK (visibility IN ('public', 'private')),
        default_branch text NOT NULL DEFAULT 'main',
        fork_parent_id uuid NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        pushed_at timestamptz NULL,
        deleted_at timestamptz NULL,
        CONSTRAINT musehub_repos_owner_slug_key UNIQUE (owner, slug)
      );
      CREATE INDEX ix_musehub_repos_owner_user_id ON musehub_repos (owner_user_id, created_at, repo_id);
      CREATE INDEX ix_musehub_repos_fork_parent_id ON musehub_repos (fork_parent_id);

      CREATE TABLE musehub_collaborators (
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        permission text NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repo_id, user_id)
      );
      CREATE INDEX ix_musehub_collaborators_user_id ON musehub_collaborators (user_id);

      CREATE TABLE musehub_branches (
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        name text NOT NULL,
        head_commit_id text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repo_id, name)
      );

      CREATE TABLE musehub_commits (
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        commit_id text NOT NULL,
        parent_commit_id text NULL,
        parent2_commit_id text NULL,
        snapshot_id text NULL,
        branch text NULL,
        author text NULL,
        message text NULL,
        committed_at timestamptz NULL,
        -- The commit record exactly as the client sent it (msgpack), so fetch returns it losslessly.
        record bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repo_id, commit_id)
      );

      CREATE TABLE musehub_snapshots (
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        snapshot_id text NOT NULL,
        object_ids text[] NOT NULL DEFAULT '{}',
        record bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repo_id, snapshot_id)
      );

      CREATE TABLE musehub_objects (
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        object_id text NOT NULL,
        size bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repo_id, object_id)
      );
      CREATE INDEX ix_musehub_objects_object_id ON musehub_objects (object_id);

      CREATE TABLE musehub_issues (
        issue_id uuid PRIMARY KEY,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        number integer NOT NULL,
        title text NOT NULL,
        body text NOT NULL DEFAULT '',
        state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
        author_user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz NULL,
        deleted_at timestamptz NULL,
        CONSTRAINT musehub_issues_repo_number_key UNIQUE (repo_id, number)
      );

      CREATE TABLE musehub_issue_comments (
        comment_id uuid PRIMARY KEY,
        issue_id uuid NOT NULL REFERENCES musehub_issues (issue_id) ON DELETE RESTRICT,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        author_user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        body text NOT NULL,
        is_deleted boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX ix_musehub_issue_comments_issue_id ON musehub_issue_comments (issue_id, created_at);
      CREATE INDEX ix_musehub_issue_comments_repo_id ON musehub_issue_comments (repo_id);

      CREATE TABLE musehub_issue_labels (
        issue_id uuid NOT NULL REFERENCES musehub_issues (issue_id) ON DELETE RESTRICT,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        label text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (issue_id, label)
      );

      CREATE TABLE musehub_proposals (
        proposal_id uuid PRIMARY KEY,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        number integer NOT NULL,
        title text NOT NULL,
        body text NOT NULL DEFAULT '',
        from_branch text NOT NULL,
        to_branch text NOT NULL,
        state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed', 'merged')),
        author_user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz NULL,
        merged_at timestamptz NULL,
        CONSTRAINT musehub_proposals_repo_number_key UNIQUE (repo_id, number)
      );

      CREATE TABLE musehub_proposal_comments (
        comment_id uuid PRIMARY KEY,
        proposal_id uuid NOT NULL REFERENCES musehub_proposals (proposal_id) ON DELETE RESTRICT,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        author_user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        body text NOT NULL,
        is_deleted boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX ix_musehub_proposal_comments_proposal_id ON musehub_proposal_comments (proposal_id, created_at);
      CREATE INDEX ix_musehub_proposal_comments_repo_id ON musehub_proposal_comments (repo_id);

      CREATE TABLE musehub_webhooks (
        webhook_id uuid PRIMARY KEY,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        url text NOT NULL,
        events text[] NOT NULL,
        secret text NOT NULL,
        active boolean NOT NULL DEFAULT true,
        created_by uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX ix_musehub_webhooks_repo_id ON musehub_webhooks (repo_id);

      CREATE TABLE musehub_webhook_deliveries (
        delivery_id uuid PRIMARY KEY,
        webhook_id uuid NOT NULL REFERENCES musehub_webhooks (webhook_id) ON DELETE RESTRICT,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        event text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_status_code integer NULL,
        last_error text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz NULL
      );
      CREATE INDEX ix_musehub_webhook_deliveries_due ON musehub_webhook_deliveries (next_attempt_at) WHERE status = 'pending';
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DROP TABLE musehub_webhook_deliveries;
      DROP TABLE musehub_webhooks;
      DROP TABLE musehub_proposal_comments;
      DROP TABLE musehub_proposals;
      DROP TABLE musehub_issue_labels;
      DROP TABLE musehub_issue_comments;
      DROP TABLE musehub_issues;
      DROP TABLE musehub_objects;
      DROP TABLE musehub_snapshots;
      DROP TABLE musehub_commits;
      DROP TABLE musehub_branches;
      DROP TABLE musehub_collaborators;
      DROP TABLE musehub_repos;
      DROP TABLE musehub_tokens;
      DROP TABLE musehub_users;
    `);
  }
}
