import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import { repoIsLive } from '../db/live-repo-sql.ts';
import { runSql } from '../db/sql.ts';
import { StorageUnavailableError } from '../errors.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { DEFAULT_GRACE_MS, markUnnamed, reclaimable, type Tally } from './gc.ts';

export interface Problem {
  check: string;
  detail: string;
}

export interface FsckReport {
  ok: boolean;
  problems: Problem[];
  /**
   * Bytes no row names, stored longer ago than the grace period: what \`musehub gc\` would free.
   * Not a problem (a purge leaves them until the next collection).
   */
  reclaimable: Tally;
  checked: { branches: number; commits: number; snapshotObjects: number; objectsHashed: number };
}

/**
 * One query per invariant: each returns the rows that break it, as a readable line. Raw SQL with
 * every tombstone condition written out: fsck must see the rows the live filters hide.
 */
const CHECKS: { check: string; sql: string }[] = [
  {
    check: 'branch head is a stored commit of its repo',
    sql: `SELECT r.owner || '/' || r.slug || ' branch ' || b.name || ' -> ' || b.head_commit_id AS detail
            FROM musehub_branches b JOIN musehub_repos r ON r.repo_id = b.repo_id AND ${repoIsLive('r')}
            LEFT JOIN musehub_commits c ON c.repo_id = b.repo_id AND c.commit_id = b.head_commit_id
           WHERE c.commit_id IS NULL`,
  },
  {
    check: "commit's snapshot exists",
    sql: `SELECT c.repo_id || ' commit ' || c.commit_id || ' -> snapshot ' || c.snapshot_id AS detail
            FROM musehub_commits c
            LEFT JOIN musehub_snapshots s ON s.repo_id = c.repo_id AND s.snapshot_id = c.snapshot_id
           WHERE c.snapshot_id IS NOT NULL AND s.snapshot_id IS NULL`,
  },
  {
    check: "commit's parents exist",
    sql: `SELECT c.repo_id || ' commit ' || c.commit_id || ' -> parent ' || p.id AS detail
            FROM musehub_commits c
           CROSS JOIN LATERAL (VALUES (c.parent_commit_id), (c.parent2_commit_id)) AS p(id)
            LEFT JOIN musehub_commits pc ON pc.repo_id = c.repo_id AND pc.commit_id = p.id
           WHERE p.id IS NOT NULL AND pc.commit_id IS NULL`,
  },
  {
    check: 'object named by a snapshot is held by the repo',
    sql: `SELECT DISTINCT s.repo_id || ' snapshot ' || s.snapshot_id || ' -> object ' || o.id AS detail
            FROM musehub_snapshots s CROSS JOIN LATERAL unnest(s.object_ids) AS o(id)
            LEFT JOIN musehub_objects mo ON mo.repo_id = s.repo_id AND mo.object_id = o.id
           WHERE mo.object_id IS NULL`,
  },
  {
    check: 'no live private fork of a deleted private repo',
    sql: `SELECT f.owner || '/' || f.slug || ' forked from deleted ' || p.owner || '/' || p.slug AS detail
            FROM musehub_repos f JOIN musehub_repos p ON p.repo_id = f.fork_parent_id
           WHERE ${repoIsLive('f')} AND f.visibility = 'private'
             AND NOT ${repoIsLive('p')} AND p.visibility = 'private'`,
  },
  ...(
    [
      ['issue', 'musehub_issues', 'issue_id', 'x.deleted_at IS NULL'],
      ['proposal', 'musehub_proposals', 'proposal_id', 'x.deleted_at IS NULL'],
      ['issue comment', 'musehub_issue_comments', 'comment_id', 'NOT x.is_deleted'],
      ['proposal comment', 'musehub_proposal_comments', 'comment_id', 'NOT x.is_deleted'],
    ] as const
  ).flatMap(([what, table, id, live]) => [
    {
      check: `no live ${what} in a deleted repo`,
      sql: `SELECT '${what} ' || x.${id} || ' in deleted repo ' || r.repo_id AS detail
              FROM ${table} x JOIN musehub_repos r ON r.repo_id = x.repo_id
             WHERE r.deleted_at IS NOT NULL AND ${live}`,
    },
    {
      check: `tombstoned ${what}'s deletion_id matches its repo's`,
      sql: `SELECT '${what} ' || x.${id} || ' deletion ' || x.deletion_id || ', repo ' || coalesce(r.deletion_id::text, 'live') AS detail
              FROM ${table} x JOIN musehub_repos r ON r.repo_id = x.repo_id
             WHERE x.deletion_id IS NOT NULL AND (r.deletion_id IS DISTINCT FROM x.deletion_id OR ${live})`,
    },
  ]),
];

/**
 * No row outlives its repo: every table with a repo_id names a repo that exists (a purge removes
 * them all; the audit log is the one table that keeps a purged repo's id, as history).
 */
async function orphanRowChecks(em: EntityManager): Promise<{ check: string; sql: string }[]> {
  const tables = await runSql<{ table_name: string }>(
    em,
    `SELECT table_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND column_name = 'repo_id'
        AND table_name NOT IN ('musehub_repos', 'musehub_audit_events')
      ORDER BY table_name`,
  );
  return tables.map(({ table_name: t }) => ({
    check: 'no row under a purged repo',
    sql: `SELECT '${t} row under missing repo ' || x.repo_id AS detail FROM ${t} x
           WHERE x.repo_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM musehub_repos r WHERE r.repo_id = x.repo_id)`,
  }));
}

const BYTE_CHECKS = {
  stored: 'object bytes are stored',
  hash: 'object bytes hash to their id',
  size: 'object size matches its row',
} as const;

/** The name of every check, as problems report it. */
export const CHECK_NAMES: readonly string[] = [
  ...CHECKS.map((c) => c.check),
  'no row under a purged repo',
  ...Object.values(BYTE_CHECKS),
];

/**
 * The integrity invariants, for `musehub fsck` and for tests after anything destructive or
 * concurrent: live branch heads name stored commits; commits' snapshots and parents exist;
 * every object a snapshot names is held by its repo and (with hashBytes) its stored bytes
 * hash to its id; nothing live hangs off a deleted repo (a private repo's private forks
 * included); every tombstone's deletion_id is its repo's current one; no row outlives its repo.
 * It also measures what garbage collection would free (not a problem). Read-only.
 */
export async function checkIntegrity(
  em: EntityManager,
  store: ObjectStore,
  opts: {
    hashBytes?: boolean;
    limit?: number;
    graceMs?: number;
    /** Called as objects are checked: how many of how many (for a person watching). */
    progress?: (done: number, total: number) => void;
  } = {},
): Promise<FsckReport> {
  const limit = opts.limit ?? 100;
  const problems: Problem[] = [];
  for (const { check, sql } of [...CHECKS, ...(await orphanRowChecks(em))]) {
    const rows = await runSql<{ detail: string }>(em, `${sql} LIMIT ${limit}`);
    for (const r of rows) problems.push({ check, detail: r.detail });
  }
  const counts = await runSql<{ branches: string; commits: string; snapshot_objects: string }>(
    em,
    `SELECT (SELECT count(*) FROM musehub_branches) AS branches, (SELECT count(*) FROM musehub_commits) AS commits,
            (SELECT coalesce(sum(cardinality(object_ids)), 0) FROM musehub_snapshots) AS snapshot_objects`,
  );
  const ids = await runSql<{ object_id: string; size: string }>(
    em,
    'SELECT object_id, max(size) AS size FROM musehub_objects GROUP BY object_id ORDER BY object_id',
  );
  // Every object row's bytes must be in the store; with hashBytes (the default) they are read
  // back, streamed, and hashed. A few at a time: a remote store answers each one separately.
  let objectsHashed = 0;
  let next = 0;
  const found: (Problem | undefined)[] = new Array(ids.length);
  const checkOne = async (i: number) => {
    const { object_id, size } = ids[i]!;
    const problem = (check: string, detail: string) => {
      found[i] = { check, detail };
    };
    if (opts.hashBytes === false) {
      if (!(await store.has(object_id))) {
        problem(BYTE_CHECKS.stored, `object ${object_id} is missing from the store`);
      }
      return;
    }
    let stream: Readable;
    try {
      stream = await store.open(object_id);
    } catch (err) {
      if (err instanceof StorageUnavailableError) throw err;
      problem(BYTE_CHECKS.stored, `object ${object_id} is missing from the store`);
      return;
    }
    const hash = createHash('sha256');
    let length = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      length += (chunk as Buffer).length;
    }
    objectsHashed++;
    const actual = hash.digest('hex');
    if (actual !== object_id) {
      problem(BYTE_CHECKS.hash, `object ${object_id} hashes to ${actual}`);
    } else if (length !== Number(size)) {
      problem(BYTE_CHECKS.size, `object ${object_id} is ${length} bytes, its row says ${size}`);
    }
  };
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < ids.length) {
        await checkOne(next++);
        opts.progress?.(next, ids.length);
      }
    }),
  );
  for (const p of found) if (p) problems.push(p);
  const c = counts[0]!;
  const cutoff = new Date(Date.now() - (opts.graceMs ?? DEFAULT_GRACE_MS));
  return {
    ok: problems.length === 0,
    problems,
    reclaimable: reclaimable(await markUnnamed(em, store, cutoff)),
    checked: {
      branches: Number(c.branches),
      commits: Number(c.commits),
      snapshotObjects: Number(c.snapshot_objects),
      objectsHashed,
    },
  };
}
