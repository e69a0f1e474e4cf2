import type { Config } from '../config.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';

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
    const source = process.env.MUSEHUB_DATABASE_SOURCE || 'DATABASE_URL';
    return { url: config.databaseUrl, source, stop: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres({ dir: config.dataDir, log });
  return {
    url: embedded.url,
    source: `embedded PostgreSQL in ${config.dataDir}/pg${embedded.owned ? '' : ' (shared with a running gateway)'}`,
    stop: () => embedded.stop(),
  };
}
