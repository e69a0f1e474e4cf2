import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { HashMismatchError } from '../errors.ts';
import { isAlive } from '../process-alive.ts';
import { type ByteRange, ObjectFileWorker } from './object-file-worker.ts';
import { consumeUpload, isObjectId, type ObjectStore, type StoredObject } from './object-store.ts';
import { decodePackIndex, encodePackIndex, type PackEntry } from './pack-index.ts';

/**
 * Objects on the local filesystem. An uploaded batch (push/objects) is one pack under
 * <dir>/packs: its objects' bytes end to end, with an index beside it (pack-index.ts) — one
 * file and one fsync per batch, where a file, an fsync and a rename per object cost a push
 * most of its time. An object streamed in alone (a presigned upload) is a loose file under
 * <dir>/ab/cdef…, and so is every object written before packs existed.
 *
 * Each process keeps the pack indexes in memory (roughly 150 bytes per object: beyond a few
 * million objects, use the postgres store or an object store) and reads indexes it has not
 * seen when asked for an object it does not know: another worker may just have written it.
 */
export class FsObjectStore implements ObjectStore {
  readonly remote = false;
  // Ranges of a few pack files: large batches cost little, and each is one message to the file thread.
  readonly readBatch = { count: 1024, bytes: 8 * 1024 * 1024 };
  private readonly tmpDir: string;
  private readonly packDir: string;
  private readonly files = new ObjectFileWorker();
  private readonly packed = new Map<string, { pack: string; offset: number; length: number }>();
  private readonly indexesRead = new Set<string>();
  private scanned = { mtimeMs: -1, at: 0 };
  private scanning: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.tmpDir = path.join(dir, 'tmp');
    this.packDir = path.join(dir, 'packs');
  }

  /** Creates the directories, removes what processes that died mid-write left, reads the pack indexes. */
  async init(): Promise<this> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    await fs.mkdir(this.packDir, { recursive: true });
    const deadWriter = (name: string) => {
      const pid = Number(name.split('-')[0]);
      return Number.isInteger(pid) && pid > 0 && !isAlive(pid);
    };
    for (const name of await fs.readdir(this.tmpDir)) {
      if (deadWriter(name)) await fs.rm(path.join(this.tmpDir, name), { force: true });
    }
    // A pack without its index was killed between the two renames: nothing names its bytes.
    const names = new Set(await fs.readdir(this.packDir));
    for (const name of names) {
      if (name.endsWith('.pack') && !names.has(`${name.slice(0, -5)}.idx`) && deadWriter(name)) {
        await fs.rm(path.join(this.packDir, name), { force: true });
      }
    }
    await this.scan();
    return this;
  }

  /**
   * Reads the indexes of packs this process has not seen. Each call scans after any scan
   * already running, so a caller never settles for a listing older than its own request.
   */
  private scan(): Promise<void> {
    const scan = this.scanning.then(async () => {
      const { mtimeMs } = await fs.stat(this.packDir);
      // A directory's mtime may stay put for renames within one clock tick: an unchanged
      // mtime is trusted only when the last listing was taken well after it.
      if (mtimeMs === this.scanned.mtimeMs && this.scanned.at - mtimeMs > 1000) return;
      const at = Date.now();
      for (const name of await fs.readdir(this.packDir)) {
        if (!name.endsWith('.idx') || this.indexesRead.has(name)) continue;
        const pack = path.join(this.packDir, `${name.slice(0, -4)}.pack`);
        for (const e of decodePackIndex(await fs.readFile(path.join(this.packDir, name)))) {
          if (!this.packed.has(e.objectId)) this.packed.set(e.objectId, { pack, offset: e.offset, length: e.length });
        }
        this.indexesRead.add(name);
      }
      this.scanned = { mtimeMs, at };
    });
    // The chain carries on past a failed scan (an unreadable index): that caller gets the error,
    // the next one scans afresh instead of inheriting it forever.
    this.scanning = scan.catch(() => undefined);
    return scan;
  }

  private pathOf(objectId: string): string {
    if (!isObjectId(objectId)) throw new Error(`not an object id: ${objectId}`);
    return path.join(this.dir, objectId.slice(0, 2), objectId.slice(2));
  }

  /**
   * Where an object's bytes are: a range of a pack, or its loose file (whose size the caller
   * gives, or is read). No such file is an ENOENT from whoever reads it.
   */
  async locate(objectId: string, size?: number): Promise<ByteRange> {
    if (!this.packed.has(objectId)) await this.scan();
    const p = this.packed.get(objectId);
    if (p) return { file: p.pack, offset: p.offset, length: p.length };
    const file = this.pathOf(objectId);
    return { file, offset: 0, length: size ?? (await fs.stat(file)).size };
  }

  async has(objectId: string): Promise<boolean> {
    if (!this.packed.has(objectId)) await this.scan();
    if (this.packed.has(objectId)) return true;
    return fs.access(this.pathOf(objectId)).then(
      () => true,
      () => false,
    );
  }

  private tempPath() {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  async put(objectId: string, bytes: Uint8Array): Promise<void> {
    await this.putMany([{ objectId, bytes }]);
  }

  /** One durable pack of the objects this process does not already hold packed. */
  async putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void> {
    const fresh = new Map<string, Uint8Array>();
    for (const o of objects) {
      if (!isObjectId(o.objectId)) throw new Error(`not an object id: ${o.objectId}`);
      if (!this.packed.has(o.objectId)) fresh.set(o.objectId, o.bytes);
    }
    if (!fresh.size) return;
    const entries: PackEntry[] = [];
    let offset = 0;
    for (const [objectId, bytes] of fresh) {
      entries.push({ objectId, offset, length: bytes.length });
      offset += bytes.length;
    }
    const name = `${process.pid}-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const tmp = this.tempPath();
    const packPath = path.join(this.packDir, `${name}.pack`);
    await this.files.pack({
      chunks: [...fresh.values()],
      index: encodePackIndex(entries),
      tmpPack: `${tmp}.pack`,
      tmpIndex: `${tmp}.idx`,
      packPath,
      indexPath: path.join(this.packDir, `${name}.idx`),
      packDir: this.packDir,
    });
    this.indexesRead.add(`${name}.idx`);
    for (const e of entries) {
      if (!this.packed.has(e.objectId))
        this.packed.set(e.objectId, { pack: packPath, offset: e.offset, length: e.length });
    }
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
    return size;
  }

  async get(objectId: string): Promise<Buffer> {
    const [bytes] = await this.files.read([await this.locate(objectId)]);
    return bytes!;
  }

  async getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    if (objects.some((o) => !this.packed.has(o.object_id))) await this.scan();
    const ranges = objects.map((o): ByteRange => {
      const p = this.packed.get(o.object_id);
      if (!p) return { file: this.pathOf(o.object_id), offset: 0, length: o.size };
      if (p.length !== o.size)
        throw new Error(`object ${o.object_id} is ${p.length} bytes in its pack, its row says ${o.size}`);
      return { file: p.pack, offset: p.offset, length: p.length };
    });
    return this.files.read(ranges);
  }

  async open(objectId: string): Promise<Readable> {
    const r = await this.locate(objectId);
    // A range past the end of its file would read as fewer bytes, silently: refuse it here.
    if ((await fs.stat(r.file)).size < r.offset + r.length) throw new Error(`object ${objectId} is cut short on disk`);
    if (!r.length) return Readable.from([]);
    const stream = createReadStream(r.file, { start: r.offset, end: r.offset + r.length - 1 });
    // Opened here, so a missing file rejects now rather than erroring the stream later.
    await new Promise<void>((resolve, reject) => {
      stream.once('ready', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async *listStored(): AsyncIterable<StoredObject> {
    await this.scan();
    for (const [objectId, p] of this.packed) yield { objectId, size: p.length, packed: true };
    for (const dir of await fs.readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      for (const name of await fs.readdir(path.join(this.dir, dir))) {
        const objectId = dir + name;
        if (!isObjectId(objectId)) continue;
        const { size } = await fs.stat(path.join(this.dir, dir, name));
        yield { objectId, size, packed: false };
      }
    }
  }

  close(): Promise<void> {
    return this.files.close();
  }
}
