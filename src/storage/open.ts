import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config.ts';
import { FsObjectStore, type ObjectStore } from './object-store.ts';
import { PgObjectStore } from './pg-object-store.ts';

/** The object store MUSEHUB_OBJECT_STORE names: files under MUSEHUB_DATA_DIR/objects, or the database. */
export async function openObjectStore(
  config: Pick<Config, 'objectStore' | 'dataDir'>,
  orm: MikroORM,
): Promise<ObjectStore> {
  if (config.objectStore === 'postgres') return new PgObjectStore(orm);
  return new FsObjectStore(path.join(config.dataDir, 'objects')).init();
}
