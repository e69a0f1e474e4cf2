import type { EntityManager, Knex } from '@mikro-orm/postgresql';

/**
 * Runs one statement in the EntityManager's transaction (if any) — the one way raw SQL is run here,
 * so no statement can silently run outside the transaction it belongs to — its parameters sent as
 * parameters: knex turns `?` into `$n` for node-postgres. MikroORM's execute() instead quotes
 * every parameter into the SQL text in JavaScript, character by character — for a push's JSON
 * lists of a few megabytes, or an object's bytes, that quoting and its garbage were most of
 * the request's time. Errors are converted as MikroORM converts its own.
 */
export async function runSql<T>(em: EntityManager, sql: string, params: readonly unknown[] = []): Promise<T[]> {
  return (await raw<T>(em, sql, params)).rows;
}

/** runSql for a statement whose answer is how many rows it changed (an UPDATE, INSERT … SELECT, DELETE). */
export async function runSqlCount(em: EntityManager, sql: string, params: readonly unknown[] = []): Promise<number> {
  return (await raw(em, sql, params)).rowCount ?? 0;
}

async function raw<T>(
  em: EntityManager,
  sql: string,
  params: readonly unknown[],
): Promise<{ rows: T[]; rowCount: number | null }> {
  const query = em
    .getConnection()
    .getKnex()
    .raw(sql, params as Knex.RawBinding[]);
  const trx = em.getTransactionContext<Knex.Transaction>();
  if (trx) query.transacting(trx);
  try {
    return (await query) as { rows: T[]; rowCount: number | null };
  } catch (err) {
    throw em.getDriver().convertException(err as Error);
  }
}

/**
 * A bytea column selected as base64 text (`base64Column('s.record', 'record')`), to be turned
 * back into bytes with bytesFromBase64. node-postgres receives bytea as hex text — twice its
 * size on the wire, then decoded in JavaScript; base64 is 1.35× (PostgreSQL wraps it every 76
 * characters, which Buffer.from skips) and Node decodes it ~2.7× faster (20 MB of 20 KB records:
 * 20 ms against 55). Its binary mode would avoid text altogether, but it corrupts binary columns
 * (node-postgres issue 3495: fields are decoded as UTF-8 before the type parser sees them).
 */
export const base64Column = (column: string, as: string) => `encode(${column}, 'base64') AS ${as}`;

/** The rows with `key` decoded from base64 to a Buffer, in place. */
export function bytesFromBase64<K extends string, R extends Record<K, unknown>>(
  rows: R[],
  key: K,
): (Omit<R, K> & Record<K, Buffer>)[] {
  for (const row of rows) (row as Record<K, unknown>)[key] = Buffer.from(row[key] as string, 'base64');
  return rows as unknown as (Omit<R, K> & Record<K, Buffer>)[];
}
