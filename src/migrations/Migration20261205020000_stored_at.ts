import { Migration } from '@mikro-orm/migrations';

/**
 * Garbage collection never touches bytes stored within its grace period, so every copy of an
 * object says when it was stored: the postgres store's blobs and the S3 store's pack index rows
 * (the filesystem has mtimes; S3 keys have LastModified). Rows that exist now count as stored
 * when this migration ran: a grace period later they are as old as any.
 */
export class Migration20261205020000_stored_at extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE musehub_object_blobs ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
      ALTER TABLE musehub_packed_objects ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
      CREATE INDEX ix_musehub_packed_objects_pack ON musehub_packed_objects (pack);
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DROP INDEX ix_musehub_packed_objects_pack;
      ALTER TABLE musehub_packed_objects DROP COLUMN stored_at;
      ALTER TABLE musehub_object_blobs DROP COLUMN stored_at;
    `);
  }
}
