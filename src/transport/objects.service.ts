import type { Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import { retryOnDeadlock } from '../db/retry.ts';
import { holdStoreWrites } from '../db/store-lock.ts';
import { BadRequestError, ForbiddenError, HashMismatchError, PayloadTooLargeError, repoNotFound } from '../errors.ts';
import { insertObjectRows, presentObjectIds } from '../history/history.store.ts';
import { checkAllowed, grantHolderAccess } from '../repos/index.ts';
import { inLiveRepo } from '../repos/live-repo.ts';
import { type ObjectStore, sha256Hex } from '../storage/object-store.ts';
import { type PresignGrant, presignedPutUrl, verifyGrant } from './presign.ts';

export interface IncomingObject {
  object_id: string;
  content: Uint8Array;
}

/**
 * push/objects: every hash is checked before anything is written, so a request with one
 * bad object keeps nothing. One transaction holds the repo against a delete and the store's
 * write lock shared (db/store-lock.ts) while the bytes go to the store — or are found there
 * already — and the rows that make them this repo's are written: garbage collection cannot
 * remove bytes in between.
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
  const inserted = await retryOnDeadlock(() =>
    inLiveRepo(em, repoId, async (tx) => {
      await holdStoreWrites(tx);
      // One durable batch: on the filesystem, one pack and its index, fsynced before this resolves.
      await store.putMany(fresh.map(([objectId, bytes]) => ({ objectId, bytes })));
      return insertObjectRows(
        tx,
        repoId,
        fresh.map(([objectId, bytes]) => ({ objectId, size: bytes.length })),
      );
    }),
  );
  return { stored: inserted, skipped: objects.length - inserted };
}

/**
 * PUT /presigned/{repo}/{object}: the signed URL is the credential (no Authorization header,
 * no repo resolved by name). The grant is checked, a declared size over it refused before any
 * byte is read, and a deleted repo refused before the body is read; the bytes are streamed
 * into the store, verified against the id and the limit, and become the repo's only in a write
 * that sees the repo still live.
 */
export async function receivePresignedUpload(
  em: () => EntityManager,
  store: ObjectStore,
  presignKey: Buffer,
  grant: PresignGrant,
  signature: string,
  declaredBytes: number,
  body: Readable | null,
): Promise<{ stored: true; object_id: string; size: number }> {
  if (!verifyGrant(presignKey, grant, signature)) {
    throw new ForbiddenError(
      'the signed URL is invalid or has expired; ask for a new one with presign',
      'invalid_signature',
    );
  }
  if (declaredBytes > grant.maxBytes) {
    throw new PayloadTooLargeError(
      `object of ${declaredBytes} bytes is larger than this hub's limit of ${grant.maxBytes} bytes (${(grant.maxBytes / 1048576).toFixed(1)} MiB)`,
    );
  }
  // The signature proved the grant; the grantee must still hold it: a removed collaborator's URL
  // dies with their access (403 while they may still read the repo, the repo 404 when they may
  // not), and every URL dies with its repo (the repo 404).
  const held = await grantHolderAccess(em(), grant.repoId, grant.userId);
  if (!held) throw repoNotFound();
  checkAllowed(held.visibility, held.permission, { userId: grant.userId, username: '' }, 'write', {
    forbidden: 'the signed URL is no longer valid: its user may not write to this repo; ask for a new one with presign',
  });
  if (!body) throw new BadRequestError('request body is empty', 'empty_body');
  // Received and verified before any lock is taken: a slow upload holds no connection.
  const received = await store.receive(grant.objectId, body, grant.maxBytes);
  try {
    await inLiveRepo(em(), grant.repoId, async (tx) => {
      await holdStoreWrites(tx);
      await received.place();
      await insertObjectRows(tx, grant.repoId, [{ objectId: grant.objectId, size: received.size }]);
    });
  } finally {
    await received.discard();
  }
  return { stored: true, object_id: grant.objectId, size: received.size };
}

/**
 * presign direction "put": one URL per object. With a store that takes uploads directly (S3),
 * the URL is the store's own, to this repo's staging area, so the bytes never pass through the
 * gateway; otherwise it is the gateway's signed /presigned route.
 */
export async function uploadUrls(
  deps: { store: ObjectStore; publicUrl: string; presignKey: Buffer; limits: { maxObjectBytes: number } },
  userId: string,
  repoId: string,
  objectIds: readonly string[],
  ttlSeconds: number,
): Promise<Record<string, string>> {
  const ids = [...new Set(objectIds)];
  const direct = deps.store.directUploads;
  if (direct) {
    const urls = await Promise.all(ids.map((id) => direct.uploadUrl(repoId, id, ttlSeconds)));
    return Object.fromEntries(ids.map((id, i) => [id, urls[i]!]));
  }
  const expires = Math.floor(Date.now() / 1000) + ttlSeconds;
  return Object.fromEntries(
    ids.map((objectId) => [
      objectId,
      presignedPutUrl(deps.publicUrl, deps.presignKey, {
        repoId,
        objectId,
        maxBytes: deps.limits.maxObjectBytes,
        expires,
        userId,
      }),
    ]),
  );
}

/**
 * Objects a push names that its repo does not hold yet but that were uploaded straight to the
 * store: each is verified and moved into place, then becomes the repo's in a write that sees
 * the repo live (so an upload to a repo deleted meanwhile never does). Runs before the push's
 * transaction, which then finds them like any uploaded object, or refuses the push as before.
 */
export async function promoteDirectUploads(
  em: () => EntityManager,
  store: ObjectStore,
  repoId: string,
  named: readonly string[],
  maxObjectBytes: number,
): Promise<number> {
  const direct = store.directUploads;
  if (!direct || !named.length) return 0;
  const present = await presentObjectIds(em(), repoId, named);
  const missing = named.filter((id) => !present.has(id));
  if (!missing.length) return 0;
  // Moved into place under the store's write lock, with their rows: see storeObjects.
  return inLiveRepo(em(), repoId, async (tx) => {
    await holdStoreWrites(tx);
    const promoted: { objectId: string; size: number }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        const objectId = missing[next++]!;
        const size = await direct.promote(repoId, objectId, maxObjectBytes);
        if (size !== null) promoted.push({ objectId, size });
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, missing.length) }, worker));
    return promoted.length ? insertObjectRows(tx, repoId, promoted) : 0;
  });
}
