import { Migration } from '@mikro-orm/migrations';

/**
 * Where an object lives inside a pack, for MUSEHUB_OBJECT_STORE=s3: a push/objects batch is one
 * S3 object (a pack, its objects' bytes end to end), because an S3 request costs tens of
 * milliseconds whatever its size and a repo holds thousands of small files. Every gateway reads
 * these rows, so packs written by one are found by all. A row is written only after its pack is
 * stored; the first pack to hold an object keeps it (content-addressed, any copy will do).
 */
export class Migration20261130000000_packed_objects extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE musehub_packed_objects (
        object_id text PRIMARY KEY CHECK (object_id ~ '^[0-9a-f]{64}$'),
        pack text NOT NULL,
        "offset" bigint NOT NULL CHECK ("offset" >= 0),
        size bigint NOT NULL CHECK (size >= 0),
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE musehub_packed_objects;');
  }
}
