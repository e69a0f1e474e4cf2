import type { EntityManager } from '@mikro-orm/postgresql';
import { KEYSET_PAGE, keysetPages } from '../../db/pagination.ts';
import { runSql } from '../../db/sql.ts';
import type { StoredObject } from '../object-store.ts';

/**
 * The S3 store's pack index: rows of musehub_packed_objects, one per object stored in a pack.
 * Written only once the pack itself is stored, so no reader finds a row whose bytes are not there.
 */
export interface Packed {
  object_id: string;
  /** The pack's key under the prefix. */
  pack: string;
  offset: number;
  size: number;
}

/** Where the packed ones among `ids` are. */
export async function packedObjects(em: EntityManager, ids: readonly string[]): Promise<Map<string, Packed>> {
  if (!ids.length) return new Map();
  const rows = await runSql<{ object_id: string; pack: string; offset: string; size: string }>(
    em,
    `SELECT object_id, pack, "offset", size FROM musehub_packed_objects
      WHERE object_id IN (SELECT jsonb_array_elements_text(?::jsonb))`,
    [JSON.stringify(ids)],
  );
  return new Map(
    rows.map((r) => [
      r.object_id,
      { object_id: r.object_id, pack: r.pack, offset: Number(r.offset), size: Number(r.size) },
    ]),
  );
}

/** Records a stored pack's objects (an object some pack already holds keeps its first row). */
export async function indexPack(
  em: EntityManager,
  pack: string,
  entries: readonly { object_id: string; offset: number; size: number }[],
): Promise<void> {
  await runSql(
    em,
    `INSERT INTO musehub_packed_objects (object_id, pack, "offset", size)
     SELECT x.object_id, ?, x.offset, x.size FROM jsonb_to_recordset(?::jsonb) AS x(object_id text, "offset" bigint, size bigint)
     ON CONFLICT (object_id) DO NOTHING`,
    [pack, JSON.stringify(entries)],
  );
}

/** Every packed object's copy (for garbage collection's listing). */
export async function* packedRows(em: EntityManager): AsyncIterable<StoredObject> {
  const page = (after: string) =>
    runSql<{ object_id: string; size: string; pack: string; stored_at: string | Date }>(
      em,
      'SELECT object_id, size, pack, stored_at FROM musehub_packed_objects WHERE object_id > ? ORDER BY object_id LIMIT ?',
      [after, KEYSET_PAGE],
    );
  for await (const r of keysetPages(page, (r) => r.object_id)) {
    yield { objectId: r.object_id, size: Number(r.size), pack: r.pack, storedAt: new Date(r.stored_at) };
  }
}

/** A repack's switch: the packs in `retire` are read no more (their rows go; the pack index is per object). */
export async function unindexPacks(em: EntityManager, retire: readonly string[]): Promise<void> {
  await runSql(em, 'DELETE FROM musehub_packed_objects WHERE pack IN (SELECT jsonb_array_elements_text(?::jsonb))', [
    JSON.stringify(retire),
  ]);
}

/** Which of these packs some row still names. */
export async function indexedPacks(em: EntityManager, packs: readonly string[]): Promise<Set<string>> {
  const rows = await runSql<{ pack: string }>(
    em,
    `SELECT DISTINCT pack FROM musehub_packed_objects WHERE pack IN (SELECT jsonb_array_elements_text(?::jsonb))`,
    [JSON.stringify(packs)],
  );
  return new Set(rows.map((r) => r.pack));
}
