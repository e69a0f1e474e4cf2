import type { EntityManager } from '@mikro-orm/postgresql';
import { retryOnDeadlock } from '../db/retry.ts';
import { PayloadTooLargeError } from '../errors.ts';
import { insertObjectRows, presentObjectIds } from '../history/history.store.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import { HashMismatchError, type ObjectStore, sha256Hex } from '../storage/object-store.ts';

export interface IncomingObject {
  object_id: string;
  content: Uint8Array;
}

/**
 * push/objects: every hash is checked before anything is written, so a request with one
 * bad object keeps nothing. Bytes go to the store first, then the rows that make them
 * visible to this repo, in a transaction that holds the repo row against a delete.
 */
export async function storeObjects(
  em: EntityManager,
  store: ObjectStore,
  repoId: string,
  objects: readonly IncomingObject[],
  maxObjectBytes: number,
): Promise<{ stored: number; skipped: number }> {
  const unique = new Map<string, Uint8Array>();
  for (const o of objects) {
    if (o.content.length > maxObjectBytes) {
      throw new PayloadTooLargeError(
        `object ${o.object_id} is ${o.content.length} bytes; the limit is ${maxObjectBytes}`,
      );
    }
    const actual = sha256Hex(o.content);
    if (actual !== o.object_id) throw new HashMismatchError(o.object_id, actual);
    unique.set(o.object_id, o.content);
  }
  const present = await presentObjectIds(em, repoId, [...unique.keys()]);
  const fresh = [...unique].filter(([id]) => !present.has(id));
  // One durable batch: written, fsynced together, renamed, directories synced once.
  await store.putMany(fresh.map(([objectId, bytes]) => ({ objectId, bytes })));
  const inserted = await retryOnDeadlock(() =>
    inLiveRepo(em, repoId, (tx) =>
      insertObjectRows(
        tx,
        repoId,
        fresh.map(([objectId, bytes]) => ({ objectId, size: bytes.length })),
      ),
    ),
  );
  return { stored: inserted, skipped: objects.length - inserted };
}
