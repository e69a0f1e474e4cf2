import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFile } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { GatewayError, PayloadTooLargeError } from '../errors.ts';
import { isAlive } from '../process-alive.ts';
import { ObjectFileWorker } from './object-file-worker.ts';

// The callback readFile: fs/promises' makes more thread-pool round trips per file (FileHandle).
const readFileCallback = promisify(readFile);

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

export class HashMismatchError extends GatewayError {
  constructor(objectId: string, actual: string) {
    super(422, 'hash_mismatch', `content of object ${objectId} hashes to ${actual}`);
  }
}

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
  stream(objectId: string): Readable;
}

/** Files under <dir>/ab/cdef…, written to a temp file, fsynced, then renamed into place. */
export class FsObjectStore implements ObjectStore {
  private readonly tmpDir: string;
  private readonly files = new ObjectFileWorker();
  constructor(private readonly dir: string) {
    this.tmpDir = path.join(dir, 'tmp');
  }

  /** Creates the directories and removes temp files left by processes that died mid-write. */
  async init(): Promise<this> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    for (const name of await fs.readdir(this.tmpDir)) {
      const pid = Number(name.split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) await fs.rm(path.join(this.tmpDir, name), { force: true });
    }
    return this;
  }

  private pathOf(objectId: string): string {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    return path.join(this.dir, objectId.slice(0, 2), objectId.slice(2));
  }

  async has(objectId: string): Promise<boolean> {
    return fs.access(this.pathOf(objectId)).then(
      () => true,
      () => false,
    );
  }

  private async commit(tmp: string, objectId: string): Promise<void> {
    const target = this.pathOf(objectId);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
    // The rename is durable once the directory is.
    const dir = await fs.open(path.dirname(target), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private tempPath() {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  async put(objectId: string, bytes: Uint8Array): Promise<void> {
    await this.putMany([{ objectId, bytes }]);
  }

  /** One durable batch: all written, all fsynced, all renamed, each directory fsynced once. */
  async putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void> {
    await this.files.write(
      objects.map((o) => ({ tmp: this.tempPath(), target: this.pathOf(o.objectId), bytes: o.bytes })),
      this.tmpDir,
    );
  }

  async putStream(objectId: string, body: Readable, maxBytes: number): Promise<number> {
    const tmp = this.tempPath();
    const handle = await fs.open(tmp, 'wx', 0o644);
    let upload: { size: number; sha256: string };
    try {
      upload = await consumeUpload(body, maxBytes, (buf) => handle.write(buf));
      await handle.sync();
    } catch (err) {
      await handle.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    const { size, sha256: actual } = upload;
    if (actual !== objectId) {
      await fs.rm(tmp, { force: true });
      throw new HashMismatchError(objectId, actual);
    }
    await this.commit(tmp, objectId);
    return size;
  }

  get(objectId: string): Promise<Buffer> {
    return readFileCallback(this.pathOf(objectId));
  }

  getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    return this.files.read(
      objects.map((o) => this.pathOf(o.object_id)),
      objects.map((o) => o.size),
    );
  }

  stream(objectId: string): Readable {
    return createReadStream(this.pathOf(objectId));
  }
}
