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
