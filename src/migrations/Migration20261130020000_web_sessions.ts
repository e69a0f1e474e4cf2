import { Migration } from '@mikro-orm/migrations';

/**
 * Sign-in for the web pages. A session belongs to the API token it was opened with: revoking the
 * token ends every session opened with it, on every process, because each page request reads the
 * session joined to its token (no cache). Only SHA-256 of the cookie and of a sign-in link's code
 * are stored, like tokens: a leaked table opens no session.
 */
export class Migration20261130020000_web_sessions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE musehub_web_sessions (
        session_hash text PRIMARY KEY,
        token_id uuid NOT NULL REFERENCES musehub_tokens (token_id) ON DELETE RESTRICT,
        user_id uuid NOT NULL REFERENCES musehub_users (user_id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX ix_musehub_web_sessions_user ON musehub_web_sessions (user_id, expires_at);

      CREATE TABLE musehub_web_sign_in_links (
        code_hash text PRIMARY KEY,
        token_id uuid NOT NULL REFERENCES musehub_tokens (token_id) ON DELETE RESTRICT,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
      );
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE musehub_web_sign_in_links; DROP TABLE musehub_web_sessions;');
  }
}
