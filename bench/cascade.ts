/**
 * Cascade cost: soft-deleting a repo with 10,000 issues and 100,000 comments, against
 * hand-written SQL UPDATEs of the same rows and columns in the same run (alternating, repeated). Reports rows/s and how long the
 * repo row stayed locked. Run alone with `node --import tsx bench/cascade.ts`, or as part of
 * `npm run bench`.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { migrateUp, openOrm } from '../src/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { requireOwnership, softDeleteRepo } from '../src/repos/index.ts';

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

/** The hand-written equivalent: the same tables, the same columns (deleted_at, is_deleted, deletion_id). */
async function handWrittenDelete(orm: MikroORM, repoId: string): Promise<number> {
  const t0 = performance.now();
  await orm.em.transactional(async (tx) => {
    const conn = tx.getConnection();
    const ctx = tx.getTransactionContext();
    const deletionId = randomUUID();
    await conn.execute(
      `UPDATE musehub_repos SET deleted_at = now(), deletion_id = ? WHERE repo_id = ?`,
      [deletionId, repoId],
      'run',
      ctx,
    );
    await conn.execute(
      `UPDATE musehub_issues SET deleted_at = now(), deletion_id = ? WHERE repo_id = ? AND deleted_at IS NULL`,
      [deletionId, repoId],
      'run',
      ctx,
    );
    await conn.execute(
      `UPDATE musehub_issue_comments SET is_deleted = true, deletion_id = ? WHERE repo_id = ? AND NOT is_deleted`,
      [deletionId, repoId],
      'run',
      ctx,
    );
  });
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Soft delete vs the hand-written UPDATEs, `rounds` times each, alternating which goes first so
 * neither always meets a warmer cache; medians reported.
 */
export async function measureCascade(
  orm: MikroORM,
  issues = 10_000,
  commentsPerIssue = 10,
  rounds = 3,
): Promise<CascadeResult> {
  const userId = randomUUID();
  await orm.em
    .getConnection()
    .execute(`INSERT INTO musehub_users (user_id, username) VALUES (?, ?)`, [userId, `cascade-${userId.slice(0, 6)}`]);
  const rows = issues * (1 + commentsPerIssue);
  const hand: number[] = [];
  const soft: number[] = [];
  const locked: number[] = [];
  const viaService = async () => {
    const repoId = await seed(orm, userId, issues, commentsPerIssue);
    const t1 = performance.now();
    const em = orm.em.fork();
    const owner = await requireOwnership(em, { userId, username: 'cascade' }, { repo_id: repoId }, 'delete');
    const result = await softDeleteRepo(em, undefined, owner);
    soft.push(performance.now() - t1);
    locked.push(result.lockedMs);
    const tombstoned = Object.values(result.counts ?? {}).reduce((a, b) => a + b, 0);
    if (tombstoned !== rows) throw new Error(`expected ${rows} rows tombstoned, got ${tombstoned}`);
  };
  const byHand = async () => hand.push(await handWrittenDelete(orm, await seed(orm, userId, issues, commentsPerIssue)));
  for (let i = 0; i < rounds; i++) {
    if (i % 2) {
      await viaService();
      await byHand();
    } else {
      await byHand();
      await viaService();
    }
  }
  const softDeleteMs = median(soft);
  const handSqlMs = median(hand);
  return {
    rows,
    softDeleteMs: Math.round(softDeleteMs),
    lockedMs: Math.round(median(locked)),
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
