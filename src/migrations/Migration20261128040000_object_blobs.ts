import { Migration } from '@mikro-orm/migrations';

/**
 * Object bytes in PostgreSQL, for MUSEHUB_OBJECT_STORE=postgres: gateways on several machines
 * then share everything through the database alone. Content-addressed like the filesystem
 * store (one row per distinct content, whatever repos hold it); which repo may see an object
 * stays in musehub_objects. STORAGE EXTERNAL: object bytes are mostly compressed media, and
 * uncompressed TOAST lets PostgreSQL read a slice without inflating the whole value.
 */
export class Migration20261128040000_object_blobs extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE musehub_object_blobs (
        object_id text PRIMARY KEY CHECK (object_id ~ '^[0-9a-f]{64}$'),
        size integer NOT NULL CHECK (size >= 0),
        content bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE musehub_object_blobs ALTER COLUMN content SET STORAGE EXTERNAL;
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE musehub_object_blobs;');
  }
}
