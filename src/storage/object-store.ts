import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { HashMismatchError, PayloadTooLargeError } from '../errors.ts';

const HEX_DIGIT = new Uint8Array(128);
for (const c of '0123456789abcdef') HEX_DIGIT[c.charCodeAt(0)] = 1;

/**
 * 64 lowercase hex characters (a SHA-256). A loop, not a regex: a fetch validates every id the
 * client holds (10,000 and more), and this is three times faster than `/^[0-9a-f]{64}$/` here.
 */
export function isObjectId(s: unknown): s is string {
  if (typeof s !== 'string' || s.length !== 64) return false;
  for (let i = 0; i < 64; i++) if (HEX_DIGIT[s.charCodeAt(i)] !== 1) return false;
  return true;
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Reads an upload chunk by chunk for receive: refuses it once it passes maxBytes, hashes
 * it, and hands each chunk to `onChunk` (write it, or keep it). Returns its size and SHA-256.
 */
export async function consumeUpload(
  body: Readable,
  maxBytes: number,
  onChunk: (chunk: Buffer) => unknown,
): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) throw new PayloadTooLargeError(`object is larger than the signed limit of ${maxBytes} bytes`);
    hash.update(buf);
    await onChunk(buf);
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Content-addressed object bytes. Which repo may see an object is recorded in
 * musehub_objects, not here: identical content is stored once for every repo.
 */
export interface ObjectStore {
  has(objectId: string): Promise<boolean>;
  /** Stores bytes whose SHA-256 the caller has already verified equals objectId. Idempotent. */
  put(objectId: string, bytes: Uint8Array): Promise<void>;
  /** Stores several objects (hashes verified by the caller), durable when it resolves. */
  putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void>;
  /**
   * Streams bytes in and verifies size and hash, without making them visible yet: `place` does
   * that (a writer calls it under the store's write lock, db/store-lock.ts, which a slow upload
   * must not hold while its body arrives), `discard` drops what was not placed.
   */
  receive(objectId: string, body: Readable, maxBytes: number): Promise<ReceivedObject>;
  get(objectId: string): Promise<Buffer>;
  /** Several objects' bytes in one go, in order; sizes come from their rows. */
  getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]>;
  /**
   * Optional: the same bytes in one buffer, `room[i]` free bytes before object i and nothing
   * else between them, for the caller to fill — a fetch writes each object's msgpack header
   * there and sends the batch as it is, without copying object by object.
   */
  getManyWithRoom?(
    objects: readonly { object_id: string; size: number }[],
    room: readonly number[],
  ): Promise<{ buffer: Buffer; starts: number[] }>;
  /**
   * How much one getMany should ask for when streaming (fetch reads two batches ahead at most):
   * what keeps memory bounded for this store's way of reading.
   */
  readonly readBatch: { count: number; bytes: number };
  /**
   * True when reads can fail while the database answers (a store across the network): a fetch
   * then reads its first objects before it answers, so an outage is a 503, not a cut-off 200.
   */
  readonly remote: boolean;
  /**
   * The order in which reading these objects costs least, when it is not the order given (S3:
   * pack by pack, by offset, so read-ahead batches become a few long ranges). A fetch's answer
   * may list objects in any order.
   */
  arrange?<T extends { object_id: string }>(objects: readonly T[]): Promise<T[]>;
  /** An object's bytes as a stream; rejects (missing object, store unreachable) before any byte flows. */
  open(objectId: string): Promise<Readable>;
  /** Uploads that go straight to the store, not through the gateway (S3's presigned PUT). */
  readonly directUploads?: DirectUploads;
  /**
   * Every copy of bytes the store holds: its object, size, pack (or alone) and when it was
   * stored. Order unspecified; an object may appear once per copy. For garbage collection.
   */
  listStored(): AsyncIterable<StoredObject>;
  /*
   * Reclaiming space (integrity/gc.ts). Each is called with the store's write lock held
   * exclusively (db/store-lock.ts) after the caller re-checked that no row names what goes.
   */
  /** Deletes these objects' copies stored alone (not those inside packs). */
  deleteAlone(objectIds: readonly string[]): Promise<void>;
  /**
   * Stores `objects` (read from wherever they are now) as one new pack that readers use from now
   * on, and stops reading the packs in `retire`, whose files deleteOrphans then removes. Absent
   * when the store has no packs.
   */
  repack?(objects: readonly { objectId: string; size: number }[], retire: readonly string[]): Promise<void>;
  /**
   * Removes packs no index names (retired by a repack, or left by a crash between a pack and its
   * index) and index files without their pack, stored before `before`.
   */
  deleteOrphans(before: Date): Promise<{ files: number; bytes: number }>;
  /** Releases threads and connections; the store is not used afterwards. */
  close(): Promise<void> | void;
}

/** One copy of an object's bytes in a store. */
export interface StoredObject {
  objectId: string;
  size: number;
  /** The pack holding this copy (its bytes are freed only by a repack), or null when stored alone. */
  pack: string | null;
  /** When it was stored: garbage collection leaves copies younger than its grace period alone. */
  storedAt: Date;
}

/** An upload received and verified, not yet visible (ObjectStore.receive). */
export interface ReceivedObject {
  size: number;
  place(): Promise<void>;
  discard(): Promise<void>;
}

/** A received upload held in memory until it is placed (stores that write whole objects). */
export async function receiveInMemory(
  objectId: string,
  body: Readable,
  maxBytes: number,
  put: (objectId: string, bytes: Buffer) => Promise<void>,
): Promise<ReceivedObject> {
  const chunks: Buffer[] = [];
  const { size, sha256 } = await consumeUpload(body, maxBytes, (buf) => chunks.push(buf));
  if (sha256 !== objectId) throw new HashMismatchError(objectId, sha256);
  return {
    size,
    place: () => put(objectId, Buffer.concat(chunks, size)),
    discard: async () => {
      chunks.length = 0;
    },
  };
}

/**
 * A store the client uploads to directly. Bytes land in a staging area of the repo, unverified;
 * they become an object of the repo only through `promote`, which verifies them first.
 */
export interface DirectUploads {
  /** A short-lived URL the client PUTs one object's bytes to, with no credentials of its own. */
  uploadUrl(repoId: string, objectId: string, ttlSeconds: number): Promise<string>;
  /**
   * Verifies a staged upload (size within maxBytes, bytes hashing to objectId) and moves it into
   * the store. Resolves to its size, or null when nothing was staged; a staged upload that fails
   * verification is removed and the error thrown.
   */
  promote(repoId: string, objectId: string, maxBytes: number): Promise<number | null>;
  /** Removes staged uploads last written before `before` (at most `limit`); returns how many. */
  sweep(before: Date, limit: number): Promise<{ removed: number; kept: number }>;
}
