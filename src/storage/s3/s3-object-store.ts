import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { MikroORM } from '@mikro-orm/postgresql';
import { NotFoundError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import {
  type DirectUploads,
  isObjectId,
  type ObjectStore,
  type ReceivedObject,
  receiveInMemory,
  type StoredObject,
} from '../object-store.ts';
import { isMissing, readBody, S3Bucket, type S3Settings } from './client.ts';
import { S3DirectUploads } from './direct-uploads.ts';
import { indexedPacks, indexPack, packedObjects, packedRows, unindexPacks } from './pack-rows.ts';
import { byPackOrder, readMany } from './packed-reads.ts';

export type { S3Settings } from './client.ts';

/**
 * Objects in an S3-compatible bucket, content-addressed like the other stores: which repo may
 * see an object is recorded in musehub_objects, not in the key. A push/objects batch is one
 * pack (`<prefix>packs/<uuid>.pack`, its objects end to end) whose index is rows of
 * musehub_packed_objects (pack-rows.ts): an S3 request costs tens of milliseconds whatever its
 * size, and a clone of thousands of small objects then reads a few ranges of a few packs
 * (packed-reads.ts). An object stored alone (a verified presigned upload, a batch of one) is its
 * own key, `<prefix>objects/<id>`. Presigned uploads are direct-uploads.ts. Bytes are deleted
 * only by garbage collection (integrity/gc.ts), under the store's write lock.
 */
export class S3ObjectStore implements ObjectStore {
  readonly remote = true;
  // A batch is a few ranged GETs of packs (or one GET per object stored alone), PARALLEL at a
  // time; a fetch holds two batches.
  readonly readBatch = { count: 1024, bytes: 8 * 1024 * 1024 };
  readonly directUploads: DirectUploads;
  private readonly bucket: S3Bucket;

  constructor(
    settings: S3Settings,
    private readonly orm: MikroORM,
    log?: Logger,
  ) {
    this.bucket = new S3Bucket(settings, log);
    this.directUploads = new S3DirectUploads(this.bucket);
  }

  /** Checks the bucket answers to these credentials: a misconfiguration stops the start, with the reason. */
  async init(): Promise<this> {
    await this.bucket.check();
    return this;
  }

  private packed(ids: readonly string[]) {
    return packedObjects(this.orm.em, ids);
  }

  async has(objectId: string): Promise<boolean> {
    if ((await this.packed([objectId])).size) return true;
    try {
      await this.bucket.send(new HeadObjectCommand({ Bucket: this.bucket.name, Key: this.bucket.key(objectId) }));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async put(objectId: string, bytes: Uint8Array): Promise<void> {
    await this.bucket.putBytes(this.bucket.key(objectId), bytes);
  }

  /**
   * One pack for the batch (objects some pack already holds are left out); a batch of one is
   * stored alone. The index rows are written once the pack is stored, so no reader ever finds
   * a row whose bytes are not there; a crash in between leaves a pack nothing names.
   */
  async putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void> {
    const unique = new Map(objects.map((o) => [o.objectId, o.bytes]));
    const known = await this.packed([...unique.keys()]);
    const fresh = [...unique].filter(([id]) => !known.has(id));
    if (fresh.length <= 1) {
      for (const [id, bytes] of fresh) await this.put(id, bytes);
      return;
    }
    const pack = `packs/${randomUUID()}.pack`;
    let offset = 0;
    const entries = fresh.map(([objectId, bytes]) => {
      if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
      const entry = { object_id: objectId, offset, size: bytes.length };
      offset += bytes.length;
      return entry;
    });
    const body = Buffer.concat(
      fresh.map(([, bytes]) => bytes),
      offset,
    );
    await this.bucket.putBytes(this.bucket.packKey(pack), body);
    await indexPack(this.orm.em, pack, entries);
  }

  /** The gateway's own signed upload route (not handed out with this store): buffered, verified, put. */
  receive(objectId: string, body: Readable, maxBytes: number): Promise<ReceivedObject> {
    return receiveInMemory(objectId, body, maxBytes, (id, bytes) => this.put(id, bytes));
  }

  /**
   * Reads where the pack index says now, and once more after looking again if a pack is gone:
   * a repack may have moved the objects and the collector removed the old pack meanwhile.
   */
  private async relocating<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      return read();
    }
  }

  private async getAlone(objectId: string): Promise<Buffer> {
    const res = await this.bucket.getObject(this.bucket.key(objectId));
    if (res.ContentLength === undefined) {
      return Buffer.from(
        await (res.Body as unknown as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    }
    return readBody(res.Body, res.ContentLength, `object ${objectId}`);
  }

  get(objectId: string): Promise<Buffer> {
    return this.relocating(async () => {
      const p = (await this.packed([objectId])).get(objectId);
      return p ? this.bucket.range(p.pack, p.offset, p.offset + p.size) : this.getAlone(objectId);
    });
  }

  /** Pack by pack, by offset, objects stored alone last: getMany's ranges then come out long. */
  async arrange<T extends { object_id: string }>(objects: readonly T[]): Promise<T[]> {
    return byPackOrder(await this.packed(objects.map((o) => o.object_id)), objects);
  }

  getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    return this.relocating(async () => {
      const where = await this.packed(objects.map((o) => o.object_id));
      return readMany(this.bucket, where, objects, (id) => this.getAlone(id));
    });
  }

  open(objectId: string): Promise<Readable> {
    return this.relocating(async () => {
      const p = (await this.packed([objectId])).get(objectId);
      if (!p) return (await this.bucket.getObject(this.bucket.key(objectId))).Body;
      if (!p.size) return Readable.from([]);
      const range = `bytes=${p.offset}-${p.offset + p.size - 1}`;
      return (await this.bucket.getObject(this.bucket.packKey(p.pack), range)).Body;
    });
  }

  async *listStored(): AsyncIterable<StoredObject> {
    yield* packedRows(this.orm.em);
    for await (const o of this.bucket.list('objects/')) {
      const objectId = o.key.slice(o.key.lastIndexOf('/') + 1);
      // Swift rounds LastModified up to the whole second; a second earlier is never later than the write.
      const storedAt = new Date(o.lastModified.getTime() - 1000);
      if (isObjectId(objectId)) yield { objectId, size: o.size, pack: null, storedAt };
    }
  }

  async deleteAlone(objectIds: readonly string[]): Promise<void> {
    await this.bucket.deleteKeys(objectIds.map((id) => this.bucket.key(id)));
  }

  /**
   * The new pack is stored, then its rows replace the retired packs' in the collector's
   * transaction: readers switch when it commits. The retired packs' keys stay until
   * deleteOrphans, a transaction later, so no committed row ever names a deleted key.
   */
  async repack(objects: readonly { objectId: string; size: number }[], retire: readonly string[]): Promise<void> {
    const bytes = await this.getMany(objects.map((o) => ({ object_id: o.objectId, size: o.size })));
    await unindexPacks(this.orm.em, retire);
    if (!objects.length) return;
    const pack = `packs/${randomUUID()}.pack`;
    let offset = 0;
    const entries = objects.map((o, i) => {
      const entry = { object_id: o.objectId, offset, size: bytes[i]!.length };
      offset += entry.size;
      return entry;
    });
    await this.bucket.putBytes(this.bucket.packKey(pack), Buffer.concat(bytes, offset));
    await indexPack(this.orm.em, pack, entries);
  }

  async deleteOrphans(before: Date): Promise<{ files: number; bytes: number }> {
    const listed: { key: string; pack: string; size: number }[] = [];
    for await (const o of this.bucket.list('packs/')) {
      if (o.lastModified < before)
        listed.push({ key: o.key, pack: o.key.slice(this.bucket.settings.prefix.length), size: o.size });
    }
    const named = await indexedPacks(
      this.orm.em,
      listed.map((o) => o.pack),
    );
    const orphans = listed.filter((o) => !named.has(o.pack));
    await this.bucket.deleteKeys(orphans.map((o) => o.key));
    return { files: orphans.length, bytes: orphans.reduce((n, o) => n + o.size, 0) };
  }

  close(): void {
    this.bucket.close();
  }
}
