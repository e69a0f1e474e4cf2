import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { FsObjectStore } from './fs-object-store.ts';
import type { ObjectStore } from './object-store.ts';
import { PgObjectStore } from './pg-object-store.ts';

/** The object store MUSEHUB_OBJECT_STORE names: files under MUSEHUB_DATA_DIR/objects, the database, or S3. */
export async function openObjectStore(
  config: Pick<Config, 'objectStore' | 'dataDir' | 's3'>,
  orm: MikroORM,
  log?: Logger,
): Promise<ObjectStore> {
  if (config.objectStore === 'postgres') return new PgObjectStore(orm);
  if (config.objectStore === 's3' && config.s3) {
    // Loaded only when used: the AWS SDK is large and most installs keep objects on disk.
    const { S3ObjectStore } = await import('./s3/s3-object-store.ts');
    return new S3ObjectStore(config.s3, orm, log).init();
  }
  return new FsObjectStore(path.join(config.dataDir, 'objects')).init();
}
