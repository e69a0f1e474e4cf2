import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { ConfigError, loadConfig } from '../config.ts';
import { migrateUp, openOrm } from '../database.ts';
import { provideDatabase } from '../db/provide-database.ts';
import { CliError } from './output.ts';

/**
 * Runs `fn` against the gateway's own database: DATABASE_URL, or the embedded cluster in
 * MUSEHUB_DATA_DIR — shared with a running gateway, or started just for this command.
 */
export async function withOrm<T>(fn: (orm: MikroORM) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`configuration error: ${err.message}`, 78);
    throw err;
  }
  const db = await provideDatabase(config);
  try {
    const orm = await openOrm(db.url, 3);
    try {
      if (opts.migrate !== false) await migrateUp(orm);
      return await fn(orm);
    } finally {
      await orm.close();
    }
  } finally {
    await db.stop();
  }
}

export const withEm = <T>(fn: (em: EntityManager) => Promise<T>) => withOrm((orm) => fn(orm.em.fork()));
