import type { EntityManager } from '@mikro-orm/postgresql';
import { runSql } from '../db/sql.ts';
import type { ObjectStore, StoredObject } from '../storage/object-store.ts';

/** Objects and bytes a store holds that no musehub_objects row names. */
export interface Reclaimable {
  /** Stored alone: a sweep could delete them. */
  loose: { objects: number; bytes: number };
  /** Inside packs: only a repack frees their bytes. */
  packed: { objects: number; bytes: number };
}

const BATCH = 1000;

/**
 * What garbage collection could reclaim now: every copy of bytes in the store whose object no
 * repo row (live or deleted-but-restorable) names — e.g. what a purge left unreferenced, or what
 * a crash stored before its rows. Read-only: it reports, and removes nothing. A push in flight
 * may have stored bytes whose rows are not committed yet, so a figure taken while serving can
 * include them; removing bytes needs the lock protocol docs/soft-delete.md describes.
 */
export async function findReclaimable(em: EntityManager, store: ObjectStore): Promise<Reclaimable> {
  const found: Reclaimable = { loose: { objects: 0, bytes: 0 }, packed: { objects: 0, bytes: 0 } };
  let batch: StoredObject[] = [];
  const flush = async () => {
    if (!batch.length) return;
    const unnamed = new Set(
      (
        await runSql<{ id: string }>(
          em,
          `SELECT x.id FROM jsonb_array_elements_text(?::jsonb) AS x(id)
            WHERE NOT EXISTS (SELECT 1 FROM musehub_objects o WHERE o.object_id = x.id)`,
          [JSON.stringify([...new Set(batch.map((o) => o.objectId))])],
        )
      ).map((r) => r.id),
    );
    for (const o of batch) {
      if (!unnamed.has(o.objectId)) continue;
      const kind = o.packed ? found.packed : found.loose;
      kind.objects++;
      kind.bytes += o.size;
    }
    batch = [];
  };
  for await (const o of store.listStored()) {
    batch.push(o);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return found;
}
