import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';

/**
 * Next per-repo number for issues or proposals. Must run inside a transaction: the advisory
 * lock serialises concurrent creators in one repo until commit. Tombstoned rows count too,
 * so a number is never reused.
 */
export async function nextNumber(
  em: EntityManager,
  table: 'musehub_issues' | 'musehub_proposals',
  repoId: string,
): Promise<number> {
  await runSql(em, 'SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [`${table}:${repoId}`]);
  const [row] = await runSql<{ n: number }>(
    em,
    `SELECT coalesce(max(number), 0) + 1 AS n FROM ${table} WHERE repo_id = ?`,
    [repoId],
  );
  return row!.n;
}
