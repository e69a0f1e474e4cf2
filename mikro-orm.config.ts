import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import {
  IssueCommentSchema,
  IssueLabelSchema,
  IssueSchema,
  ProposalCommentSchema,
  ProposalSchema,
  WebhookSchema,
} from './src/hub/hub.entity.ts';
import { migrationsList } from './src/migrations/index.ts';
import { CollaboratorSchema, RepoSchema } from './src/repos/repo.entity.ts';
import { TokenSchema, UserSchema } from './src/users/user.entity.ts';

/** Every entity the ORM knows; the schema itself is owned by src/migrations. */
const entities = [
  UserSchema,
  TokenSchema,
  RepoSchema,
  CollaboratorSchema,
  IssueSchema,
  IssueCommentSchema,
  IssueLabelSchema,
  ProposalSchema,
  ProposalCommentSchema,
  WebhookSchema,
];

interface PgConnection {
  query(sql: string, cb: (err: Error | null) => void): void;
}

export interface OrmSettings {
  url: string | undefined;
  poolMax?: number;
  /** statement_timeout set on every new pooled connection; 0 or unset = none. */
  statementTimeoutMs?: number;
  /** Where the ORM's own messages (e.g. the migrator's) go; silent when omitted. */
  log?: (message: string) => void;
}

/** The ORM configuration shared by the gateway, the `musehub` CLI and the MikroORM CLI. */
export function createOrmConfig(settings: OrmSettings): Options {
  return defineConfig({
    clientUrl: settings.url,
    entities,
    extensions: [Migrator],
    forceUtcTimezone: true,
    logger: settings.log ?? (() => undefined),
    // Entities are EntitySchema definitions: nothing to discover from files or decorators.
    discovery: { disableDynamicFileAccess: true, warnWhenNoEntities: false },
    pool: {
      min: 0,
      max: settings.poolMax ?? 10,
      afterCreate: (conn: PgConnection, done: (err: Error | null, conn: PgConnection) => void) => {
        const ms = settings.statementTimeoutMs ?? 0;
        if (!ms) return done(null, conn);
        conn.query(`SET statement_timeout = ${Math.trunc(ms)}`, (err) => done(err, conn));
      },
    },
    migrations: {
      tableName: 'musehub_migrations',
      migrationsList,
      path: 'src/migrations',
      pathTs: 'src/migrations',
      emit: 'ts',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
  });
}

// Used by the MikroORM CLI (`npm run migration:create`), which reads DATABASE_URL.
export default createOrmConfig({ url: process.env.DATABASE_URL, log: (m) => console.log(m) });
