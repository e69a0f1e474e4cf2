import { Migration } from '@mikro-orm/migrations';

/**
 * A renamed repo keeps answering at its old names, as GitHub's do: one row per old owner/slug,
 * pointing at the repo that had it. A name is in here at most once (the latest repo to leave
 * it); a repo created, renamed or restored into a name removes that name's row, and a purge
 * removes the repo's rows before the repo (RESTRICT, like every reference to a repo).
 */
export class Migration20261206000000_repo_renames extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE musehub_repo_renames (
        owner text NOT NULL,
        slug text NOT NULL,
        repo_id uuid NOT NULL REFERENCES musehub_repos (repo_id) ON DELETE RESTRICT,
        renamed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (owner, slug)
      );
      CREATE INDEX ix_musehub_repo_renames_repo ON musehub_repo_renames (repo_id);
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE musehub_repo_renames;');
  }
}
