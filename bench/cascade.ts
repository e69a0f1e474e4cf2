/**
 * Cascade cost: soft-deleting a repo with 10,000 issues and 100,000 comments, against a
 * hand-written SQL UPDATE of the same rows in the same run. Reports rows/s and how long the
 * repo row stayed locked. Run alone with `node --import tsx bench/cascade.ts`, or as part of
 * `npm run bench`.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { migrateUp, openOrm } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { softDeleteRepo } from '../src/repos/index.ts';

export interface CascadeResult {
  rows: number;
  softDeleteMs: number;
  lockedMs: number;
  rowsPerSec: number;
  handSqlMs: number;
  handSqlRowsPerSec: number;
  ratio: number;
}

async function seed(orm: MikroORM, userId: string, issues: number, commentsPerIssue: number): Promise<string> {
  const repoId = randomUUID();
  const conn = orm.em.getConnection();
  await conn.execute(
    `INSERT INTO musehub_repos (repo_id, owner, owner_user_id, slug, name) VALUES (?, 'cascade', ?, ?, 'cascade')`,
    [repoId, userId, `r-${repoId.slice(0, 8)}`],
  );
  await conn.execute(
    `INSERT INTO musehub_issues (issue_id, repo_id, number, title, author_user_id)
     SELECT gen_random_uuid(), ?, n, 'issue ' || n, ? FROM generate_series(1, ?) n`,
    [repoId, userId, issues],
  );
  await conn.execute(
    `INSERT INTO musehub_issue_comments (comment_id, issue_id, repo_id, author_user_id, body)
     SELECT gen_random_uuid(), i.issue_id, i.repo_id, ?, 'comment' FROM musehub_issues i, generate_series(1, ?) WHERE i.repo_id = ?`,
    [userId, commentsPerIssue, repoId],
  );
  await conn.execute('ANALYZE musehub_issues; ANALYZE musehub_issue_comments');
  return repoId;
}

export async function measureCascade(orm: MikroORM, issues = 10_000, commentsPerIssue = 10): Promise<CascadeResult> {
  const userId = randomUUID();
  await orm.em
    .getConnection()
    .execute(`INSERT INTO musehub_users (user_id, username) VALUES (?, ?)`, [userId, `cascade-${userId.slice(0, 6)}`]);
  const rows = issues * (1 + commentsPerIssue);

  const handRepo = await seed(orm, userId, issues, commentsPerIssue);
  const t0 = performance.now();
  await orm.em.transactional(async (tx) => {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    await conn.execute(
      `UPDATE musehub_issues SET deleted_at = now() WHERE repo_id = ? AND deleted_at IS NULL`,
      [handRepo],
      'run',
      ctx,
    );
    await conn.execute(
      `UPDATE musehub_issue_comments SET is_deleted = true WHERE repo_id = ? AND NOT is_deleted`,
      [handRepo],
      'run',
      ctx,
    );
  });
  const handSqlMs = performance.now() - t0;

  const repoId = await seed(orm, userId, issues, commentsPerIssue);
  const t1 = performance.now();
  const result = await softDeleteRepo(orm.em.fork(), undefined, { userId, username: 'cascade' }, repoId);
  const softDeleteMs = performance.now() - t1;
  const tombstoned = Object.values(result.counts ?? {}).reduce((a, b) => a + b, 0);
  if (tombstoned !== rows) throw new Error(`expected ${rows} rows tombstoned, got ${tombstoned}`);
  return {
    rows,
    softDeleteMs: Math.round(softDeleteMs),
    lockedMs: Math.round(result.lockedMs),
    rowsPerSec: Math.round(rows / (softDeleteMs / 1000)),
    handSqlMs: Math.round(handSqlMs),
    handSqlRowsPerSec: Math.round(rows / (handSqlMs / 1000)),
    ratio: Math.round((handSqlMs / softDeleteMs) * 100) / 100,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musehub-cascade-'));
  await fs.chmod(dir, 0o711);
  const pg = await startEmbeddedPostgres({ dir });
  const orm = await openOrm(pg.url, 4);
  try {
    await migrateUp(orm);
    console.log(await measureCascade(orm));
  } finally {
    await orm.close();
    await pg.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
