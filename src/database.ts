import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { createOrmConfig } from '../mikro-orm.config.ts';

export async function openOrm(
  url: string,
  poolMax = 10,
  log?: (message: string) => void,
  statementTimeoutMs = 0,
): Promise<MikroORM> {
  return MikroORM.init(createOrmConfig({ url, poolMax, log, statementTimeoutMs }));
}

/**
 * Applies pending migrations; returns the names applied. Under one advisory lock held on a
 * connection of its own: every worker of a cluster asks at start-up, the first applies them and
 * the others wait, then find nothing pending.
 */
export async function migrateUp(orm: MikroORM): Promise<string[]> {
  const lock = new pg.Client({ connectionString: orm.config.get('clientUrl') });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [MIGRATION_LOCK]);
    const applied = await orm.getMigrator().up();
    return applied.map((m) => m.name);
  } finally {
    // Ending the session releases the lock, whatever happened.
    await lock.end();
  }
}
const MIGRATION_LOCK = 'musehub:migrations';
