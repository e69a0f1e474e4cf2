import type { EntityManager, Knex } from '@mikro-orm/postgresql';

/**
 * Runs one statement in the EntityManager's transaction (if any), its parameters sent as
 * parameters: knex turns `?` into `$n` for node-postgres. MikroORM's execute() instead quotes
 * every parameter into the SQL text in JavaScript, character by character — for a push's JSON
 * lists of a few megabytes, or an object's bytes, that quoting and its garbage were most of
 * the request's time. Errors are converted as MikroORM converts its own.
 */
export async function runSql<T>(em: EntityManager, sql: string, params: readonly unknown[]): Promise<T[]> {
  const query = em
    .getConnection()
    .getKnex()
    .raw(sql, params as Knex.RawBinding[]);
  const trx = em.getTransactionContext<Knex.Transaction>();
  if (trx) query.transacting(trx);
  try {
    return ((await query) as { rows: T[] }).rows;
  } catch (err) {
    throw em.getDriver().convertException(err as Error);
  }
}
