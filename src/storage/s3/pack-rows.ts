import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../../db/sql.ts';

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

/** Every packed object, in keyset pages (for garbage collection's listing). */
export async function* packedRows(em: EntityManager): AsyncIterable<{ objectId: string; size: number; packed: true }> {
  let after = '';
  for (;;) {
    const rows = await runSql<{ object_id: string; size: string }>(
      em,
      'SELECT object_id, size FROM musehub_packed_objects WHERE object_id > ? ORDER BY object_id LIMIT 1000',
      [after],
    );
    for (const r of rows) yield { objectId: r.object_id, size: Number(r.size), packed: true };
    if (rows.length < 1000) return;
    after = rows[rows.length - 1]!.object_id;
  }
}
