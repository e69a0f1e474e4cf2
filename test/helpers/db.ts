import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openOrm } from '../../src/database.ts';
import { createToken, createUser } from '../../src/users/index.ts';

export const withDatabase = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database for one test file: migrated (copied from the template) unless `empty`. */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<string> {
  const name = `${inject('pgRunPrefix')}${randomBytes(6).toString('hex')}`;
  const template = opts.empty ? 'template0' : inject('pgTemplate');
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return withDatabase(inject('pgAdminUrl'), name);
}

/** A plain pg client for assertions that must see the rows as stored, filters and all bypassed. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** A user and a working token, written straight into a database no in-process gateway serves. */
export async function userWithToken(url: string, username: string): Promise<string> {
  const orm = await openOrm(url, 2);
  try {
    await createUser(orm.em.fork(), username);
    return (await createToken(orm.em.fork(), username)).token;
  } finally {
    await orm.close();
  }
}

/** Rows of one table that belong to a repo, counted straight from the database. */
export async function countRows(url: string, table: string, repoId: string): Promise<number> {
  const [row] = await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM ${table} WHERE repo_id = $1`, [repoId]);
  return row!.n;
}
