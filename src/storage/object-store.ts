import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PayloadTooLargeError } from '../errors.ts';

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
 * Reads an upload chunk by chunk for putStream: refuses it once it passes maxBytes, hashes
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
  /** Streams bytes in, verifying size and hash before they become visible. */
  putStream(objectId: string, body: Readable, maxBytes: number): Promise<number>;
  get(objectId: string): Promise<Buffer>;
  /** Several objects' bytes in one go, in order; sizes come from their rows. */
  getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]>;
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
   * Every object whose bytes the store holds, with its size, and whether it sits in a pack (whose
   * bytes only a repack can free) or alone. Order unspecified; an object may appear once per copy.
   * For garbage collection's report of what no row names.
   */
  listStored(): AsyncIterable<StoredObject>;
  /** Releases threads and connections; the store is not used afterwards. */
  close(): Promise<void> | void;
}

/** One copy of an object's bytes in a store. */
export interface StoredObject {
  objectId: string;
  size: number;
  packed: boolean;
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
