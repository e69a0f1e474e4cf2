import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { compiledEntry } from '../bin/build.mjs';
import { migrateUp, openOrm } from '../src/database.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { serveS3OnDemand } from './helpers/s3-on-demand.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a database on the test server from which CREATE/DROP DATABASE can be run. */
    pgAdminUrl: string;
    /** A migrated database every test file copies with CREATE DATABASE … TEMPLATE. */
    pgTemplate: string;
    /** Prefix of every database this run creates, so teardown can drop them. */
    pgRunPrefix: string;
    /**
     * Where a test file asks for the S3 test server every file shares (each gateway on it uses
     * its own key prefix); it starts on the first ask (test/helpers/s3-on-demand.ts).
     */
    s3Control: string;
  }
}

const withDb = (base: string, db: string) => {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
};

/**
 * The compiled sources (bin/build.mjs), current. One PostgreSQL for the whole run: TEST_DATABASE_URL when set, otherwise an embedded cluster
 * in a fresh temp directory. A migrated template database makes per-file databases cheap.
 * One S3 server (Swift + s3api, installed if missing) for the files that use that store, started
 * when the first of them asks.
 */
export default async function setup(project: TestProject) {
  // The `musehub` command the tests spawn runs the compiled sources: compile them once here, not
  // in every test process that happens to start it first after an edit.
  compiledEntry();
  let embedded: EmbeddedPostgres | undefined;
  let tmp: string | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-test-pg-'));
    embedded = await startEmbeddedPostgres({ dir: tmp, database: 'musehub' });
    adminUrl = embedded.adminUrl;
  }
  const runPrefix = `mh_t${process.pid}_`;
  const template = `${runPrefix}template`;
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${template}`);
  await admin.query(`CREATE DATABASE ${template}`);
  const orm = await openOrm(withDb(adminUrl, template), 2);
  await migrateUp(orm);
  await orm.close();

  project.provide('pgAdminUrl', adminUrl);
  project.provide('pgTemplate', template);
  project.provide('pgRunPrefix', runPrefix);
  const s3 = await serveS3OnDemand();
  project.provide('s3Control', s3.url);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${runPrefix}%`,
    ]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
    await s3.close();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  };
}
