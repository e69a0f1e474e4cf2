import { Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { KEYSET_PAGE, keysetPages } from '../db/pagination.ts';
import { base64Column, bytesFromBase64, runSql } from '../db/sql.ts';
import { NotFoundError } from '../errors.ts';
import {
  isObjectId,
  type ObjectStore,
  type ReceivedObject,
  receiveInMemory,
  type StoredObject,
} from './object-store.ts';

/**
 * Object bytes in musehub_object_blobs (MUSEHUB_OBJECT_STORE=postgres): every gateway that
 * reaches the database sees every object, with no shared filesystem. Rows are written with
 * ON CONFLICT DO NOTHING (content-addressed, so a second writer has the same bytes).
 */
export class PgObjectStore implements ObjectStore {
  // bytea arrives as text (base64 here, 1.35× its size; hex was 2×) in socket buffers, then a
  // string, then bytes: a batch holds several times its size until collected (with hex, five). 4 MiB batches let a clone of the
  // reference repo grow RSS by 77 MiB (over its 64 MiB bound); 2 MiB keep it inside.
  readonly readBatch = { count: 32, bytes: 2 * 1024 * 1024 };
  // The same database as the rows: if it answers, so does this store.
  readonly remote = false;
  constructor(private readonly orm: MikroORM) {}

  private run<T>(sql: string, params: unknown[]): Promise<T[]> {
    return runSql<T>(this.orm.em, sql, params);
  }

  async has(objectId: string): Promise<boolean> {
    return (await this.run('SELECT 1 FROM musehub_object_blobs WHERE object_id = ?', [objectId])).length > 0;
  }

  async put(objectId: string, bytes: Uint8Array): Promise<void> {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    await this.run(
      'INSERT INTO musehub_object_blobs (object_id, size, content) VALUES (?, ?, ?) ON CONFLICT (object_id) DO NOTHING',
      [objectId, bytes.length, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)],
    );
  }

  /** Buffers the body (bounded by maxBytes) and verifies its hash; placing it inserts the row. */
  receive(objectId: string, body: Readable, maxBytes: number): Promise<ReceivedObject> {
    return receiveInMemory(objectId, body, maxBytes, (id, bytes) => this.put(id, bytes));
  }

  async get(objectId: string): Promise<Buffer> {
    const rows = await this.run<{ content: string }>(
      `SELECT ${base64Column('content', 'content')} FROM musehub_object_blobs WHERE object_id = ?`,
      [objectId],
    );
    if (!rows[0]) throw new NotFoundError('object not found', 'object_not_found');
    return bytesFromBase64(rows, 'content')[0]!.content;
  }

  async putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void> {
    for (const o of objects) await this.put(o.objectId, o.bytes);
  }

  async getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    if (!objects.length) return [];
    const rows = bytesFromBase64(
      await this.run<{ object_id: string; content: string }>(
        `SELECT object_id, ${base64Column('content', 'content')} FROM musehub_object_blobs
          WHERE object_id IN (SELECT jsonb_array_elements_text(?::jsonb))`,
        [JSON.stringify(objects.map((o) => o.object_id))],
      ),
      'content',
    );
    const byId = new Map(rows.map((r) => [r.object_id, r.content]));
    return objects.map((o) => {
      const content = byId.get(o.object_id);
      if (!content) throw new NotFoundError('object not found', 'object_not_found');
      return content;
    });
  }

  async open(objectId: string): Promise<Readable> {
    return Readable.from([await this.get(objectId)], { objectMode: false });
  }

  close(): void {}

  async *listStored(): AsyncIterable<StoredObject> {
    const page = (after: string) =>
      this.run<{ object_id: string; size: string; stored_at: string | Date }>(
        'SELECT object_id, size, stored_at FROM musehub_object_blobs WHERE object_id > ? ORDER BY object_id LIMIT ?',
        [after, KEYSET_PAGE],
      );
    for await (const r of keysetPages(page, (r) => r.object_id)) {
      yield { objectId: r.object_id, size: Number(r.size), pack: null, storedAt: new Date(r.stored_at) };
    }
  }

  /** Runs in the collector's transaction (the ORM's context), so it commits with its re-check. */
  async deleteAlone(objectIds: readonly string[]): Promise<void> {
    await this.run('DELETE FROM musehub_object_blobs WHERE object_id IN (SELECT jsonb_array_elements_text(?::jsonb))', [
      JSON.stringify(objectIds),
    ]);
  }

  /** No packs, no index files: nothing is ever orphaned. */
  async deleteOrphans(): Promise<{ files: number; bytes: number }> {
    return { files: 0, bytes: 0 };
  }
}
