import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { MikroORM } from '@mikro-orm/postgresql';
import { HashMismatchError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { consumeUpload, type DirectUploads, isObjectId, type ObjectStore, type StoredObject } from '../object-store.ts';
import { isMissing, readBody, S3Bucket, type S3Settings } from './client.ts';
import { S3DirectUploads } from './direct-uploads.ts';
import { indexPack, packedObjects, packedRows } from './pack-rows.ts';
import { byPackOrder, readMany } from './packed-reads.ts';

export type { S3Settings } from './client.ts';

/**
 * Objects in an S3-compatible bucket, content-addressed like the other stores: which repo may
 * see an object is recorded in musehub_objects, not in the key. A push/objects batch is one
 * pack (`<prefix>packs/<uuid>.pack`, its objects end to end) whose index is rows of
 * musehub_packed_objects (pack-rows.ts): an S3 request costs tens of milliseconds whatever its
 * size, and a clone of thousands of small objects then reads a few ranges of a few packs
 * (packed-reads.ts). An object stored alone (a verified presigned upload, a batch of one) is its
 * own key, `<prefix>objects/<id>`. Presigned uploads are direct-uploads.ts. Nothing here deletes
 * an object: a repo delete is soft, and only unverified staging uploads are ever removed.
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
  async putStream(objectId: string, body: Readable, maxBytes: number): Promise<number> {
    const chunks: Buffer[] = [];
    const { size, sha256 } = await consumeUpload(body, maxBytes, (buf) => chunks.push(buf));
    if (sha256 !== objectId) throw new HashMismatchError(objectId, sha256);
    await this.put(objectId, Buffer.concat(chunks, size));
    return size;
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

  async get(objectId: string): Promise<Buffer> {
    const p = (await this.packed([objectId])).get(objectId);
    return p ? this.bucket.range(p.pack, p.offset, p.offset + p.size) : this.getAlone(objectId);
  }

  /** Pack by pack, by offset, objects stored alone last: getMany's ranges then come out long. */
  async arrange<T extends { object_id: string }>(objects: readonly T[]): Promise<T[]> {
    return byPackOrder(await this.packed(objects.map((o) => o.object_id)), objects);
  }

  async getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    const where = await this.packed(objects.map((o) => o.object_id));
    return readMany(this.bucket, where, objects, (id) => this.getAlone(id));
  }

  async open(objectId: string): Promise<Readable> {
    const p = (await this.packed([objectId])).get(objectId);
    if (!p) return (await this.bucket.getObject(this.bucket.key(objectId))).Body;
    if (!p.size) return Readable.from([]);
    const res = await this.bucket.getObject(this.bucket.packKey(p.pack), `bytes=${p.offset}-${p.offset + p.size - 1}`);
    return res.Body;
  }

  async *listStored(): AsyncIterable<StoredObject> {
    yield* packedRows(this.orm.em);
    let token: string | undefined;
    const prefix = `${this.bucket.settings.prefix}objects/`;
    do {
      const page = await this.bucket.send(
        new ListObjectsV2Command({ Bucket: this.bucket.name, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
      );
      for (const o of (page.Contents ?? []) as { Key?: string; Size?: number }[]) {
        const objectId = o.Key?.slice(prefix.length) ?? '';
        if (isObjectId(objectId)) yield { objectId, size: o.Size ?? 0, packed: false };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  close(): void {
    this.bucket.close();
  }
}
