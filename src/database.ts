import { MikroORM } from '@mikro-orm/postgresql';
import { createOrmConfig } from '../mikro-orm.config.ts';
import type { Config } from './config.ts';
import { startEmbeddedPostgres } from './db/embedded-postgres.ts';

export interface DatabaseServer {
  url: string;
  /** Where it came from, for logs: "DATABASE_URL" or the embedded cluster's directory. */
  source: string;
  stop(): Promise<void>;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL kept under MUSEHUB_DATA_DIR/pg. */
export async function provideDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  log: (line: string) => void = () => undefined,
): Promise<DatabaseServer> {
  if (config.databaseUrl) {
    return { url: config.databaseUrl, source: 'DATABASE_URL', stop: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres({ dir: config.dataDir, log });
  return {
    url: embedded.url,
    source: `embedded PostgreSQL in ${config.dataDir}/pg${embedded.owned ? '' : ' (shared with a running gateway)'}`,
    stop: () => embedded.stop(),
  };
}

export async function openOrm(
  url: string,
  poolMax = 10,
  log?: (message: string) => void,
  statementTimeoutMs = 0,
): Promise<MikroORM> {
  return MikroORM.init(createOrmConfig({ url, poolMax, log, statementTimeoutMs }));
}

/** Applies pending migrations; returns the names applied. */
export async function migrateUp(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
