import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';

export interface CloneParts {
  objectBytes: number;
  objectCount: number;
  recordBytes: number;
}

interface PartsRow {
  object_bytes: string | null;
  object_count: string | null;
  record_bytes: string | null;
}

const parts = (row: PartsRow) => ({
  objectBytes: Number(row.object_bytes ?? 0),
  objectCount: Number(row.object_count ?? 0),
  recordBytes: Number(row.record_bytes ?? 0),
});

/**
 * Everything the repo stores: every object and every commit and snapshot record. A clone of any
 * head is at most this, so when it fits, no head needs to be measured. length() of a bytea
 * reads its header only, not the (possibly out-of-line) bytes.
 */
export async function repoStoredParts(em: EntityManager, repoId: string): Promise<CloneParts> {
  const [row] = await runSql<PartsRow>(
    em,
    `SELECT o.object_bytes, o.object_count,
            (SELECT sum(length(record)) FROM musehub_commits WHERE repo_id = ?)
              + (SELECT coalesce(sum(length(record)), 0) FROM musehub_snapshots WHERE repo_id = ?) AS record_bytes
       FROM (SELECT sum(size) AS object_bytes, count(*) AS object_count FROM musehub_objects WHERE repo_id = ?) o`,
    [repoId, repoId, repoId],
  );
  return parts(row!);
}

/**
 * What a clone of `head` (a fetch with an empty `have`) carries: every commit reachable from it,
 * their snapshots, and every distinct object those snapshots name. One query; the object lists
 * are unnested in SQL, never parsed in JavaScript.
 */
export async function cloneParts(em: EntityManager, repoId: string, head: string): Promise<CloneParts> {
  const [row] = await runSql<PartsRow>(
    em,
    `WITH RECURSIVE
       walk(id) AS (
         SELECT ?::text
         UNION
         SELECT p.id FROM walk w
           JOIN musehub_commits c ON c.repo_id = ? AND c.commit_id = w.id
           CROSS JOIN LATERAL (VALUES (c.parent_commit_id), (c.parent2_commit_id)) AS p(id)
          WHERE p.id IS NOT NULL),
       commits AS (
         SELECT c.snapshot_id, length(c.record) AS bytes
           FROM walk JOIN musehub_commits c ON c.repo_id = ? AND c.commit_id = walk.id),
       snapshots AS (
         SELECT s.object_ids, length(s.record) AS bytes
           FROM musehub_snapshots s
          WHERE s.repo_id = ? AND s.snapshot_id IN (SELECT snapshot_id FROM commits)),
       objects AS (SELECT DISTINCT unnest(object_ids) AS id FROM snapshots)
     SELECT (SELECT sum(o.size) FROM objects JOIN musehub_objects o ON o.repo_id = ? AND o.object_id = objects.id)
              AS object_bytes,
            (SELECT count(*) FROM objects) AS object_count,
            (SELECT sum(bytes) FROM commits) + (SELECT coalesce(sum(bytes), 0) FROM snapshots) AS record_bytes`,
    [head, repoId, repoId, repoId, repoId],
  );
  return parts(row!);
}
