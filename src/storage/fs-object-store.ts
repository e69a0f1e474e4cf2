import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { HashMismatchError } from '../errors.ts';
import { isAlive } from '../process-alive.ts';
import { type ByteRange, ObjectFileWorker, type RoomyRead } from './object-file-worker.ts';
import { consumeUpload, isObjectId, type ObjectStore, type ReceivedObject, type StoredObject } from './object-store.ts';
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
 * Garbage collection (docs/storage-gc.md) removes loose files and rewrites packs, possibly in
 * another process: a read that finds a file gone reads every index afresh and tries once more.
 */
export class FsObjectStore implements ObjectStore {
  readonly remote = false;
  // Ranges of a few pack files: large batches cost little, and each is one message to the file thread.
  readonly readBatch = { count: 1024, bytes: 8 * 1024 * 1024 };
  private readonly tmpDir: string;
  private readonly packDir: string;
  private readonly files = new ObjectFileWorker();
  private packed = new Map<string, { pack: string; offset: number; length: number }>();
  private indexesRead = new Set<string>();
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
    return this.queueScan(async () => {
      const { mtimeMs } = await fs.stat(this.packDir);
      // A directory's mtime may stay put for renames within one clock tick: an unchanged
      // mtime is trusted only when the last listing was taken well after it.
      if (mtimeMs === this.scanned.mtimeMs && this.scanned.at - mtimeMs > 1000) return;
      const at = Date.now();
      for (const name of await fs.readdir(this.packDir)) {
        if (!name.endsWith('.idx') || this.indexesRead.has(name)) continue;
        await this.readIndex(name, this.packed);
        this.indexesRead.add(name);
      }
      this.scanned = { mtimeMs, at };
    });
  }

  /**
   * Reads every index afresh, forgetting packs a repack retired (this process may still hold
   * their entries: another process's collector removed them).
   */
  private rebuild(): Promise<void> {
    return this.queueScan(async () => {
      const at = Date.now();
      const { mtimeMs } = await fs.stat(this.packDir);
      const packed: typeof this.packed = new Map();
      const read = new Set<string>();
      for (const name of await fs.readdir(this.packDir)) {
        if (!name.endsWith('.idx')) continue;
        // Retired between the listing and the read: its objects are in the pack that replaced it.
        if (!(await this.readIndex(name, packed))) continue;
        read.add(name);
      }
      this.packed = packed;
      this.indexesRead = read;
      this.scanned = { mtimeMs, at };
    });
  }

  /** Adds an index's entries (a copy already known keeps its place); false when it is gone. */
  private async readIndex(name: string, into: typeof this.packed): Promise<boolean> {
    const pack = path.join(this.packDir, `${name.slice(0, -4)}.pack`);
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(path.join(this.packDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    for (const e of decodePackIndex(bytes)) {
      if (!into.has(e.objectId)) into.set(e.objectId, { pack, offset: e.offset, length: e.length });
    }
    return true;
  }

  private queueScan(work: () => Promise<void>): Promise<void> {
    const scan = this.scanning.then(work);
    // The chain carries on past a failed scan (an unreadable index): that caller gets the error,
    // the next one scans afresh instead of inheriting it forever.
    this.scanning = scan.catch(() => undefined);
    return scan;
  }

  /**
   * Runs a read, and once more with every index read afresh if a file was missing: a repack in
   * another process may have moved the objects and removed the pack this process knew them in.
   * (A file already open is not affected: its bytes stay readable after it is removed.)
   */
  private async relocating<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.rebuild();
      return read();
    }
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
    const p = this.packed.get(objectId);
    if (p && (await this.stillIndexed([p.pack]))) return true;
    if (p) {
      await this.rebuild();
      if (this.packed.has(objectId)) return true;
    }
    return exists(this.pathOf(objectId));
  }

  /** Whether these packs' indexes are all still there (a repack elsewhere removes them). */
  private async stillIndexed(packs: Iterable<string>): Promise<boolean> {
    for (const pack of new Set(packs)) if (!(await exists(`${pack.slice(0, -5)}.idx`))) return false;
    return true;
  }

  private tempPath() {
    return path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  async put(objectId: string, bytes: Uint8Array): Promise<void> {
    await this.putMany([{ objectId, bytes }]);
  }

  /**
   * One durable pack of the objects not already packed. What this process remembers as packed
   * is checked against the indexes on disk first: the caller holds the store's write lock
   * shared, so an index there now stays until its rows commit, but one a collector removed
   * meanwhile must not count.
   */
  async putMany(objects: readonly { objectId: string; bytes: Uint8Array }[]): Promise<void> {
    for (const o of objects) if (!isObjectId(o.objectId)) throw new Error(`not an object id: ${o.objectId}`);
    const known = objects.flatMap((o) => this.packed.get(o.objectId)?.pack ?? []);
    if (known.length && !(await this.stillIndexed(known))) await this.rebuild();
    const fresh = new Map<string, Uint8Array>();
    for (const o of objects) if (!this.packed.has(o.objectId)) fresh.set(o.objectId, o.bytes);
    await this.writePack(fresh);
  }

  /** Writes one pack and its index, durably, and remembers where its objects are. */
  private async writePack(objects: ReadonlyMap<string, Uint8Array>): Promise<void> {
    if (!objects.size) return;
    const entries: PackEntry[] = [];
    let offset = 0;
    for (const [objectId, bytes] of objects) {
      entries.push({ objectId, offset, length: bytes.length });
      offset += bytes.length;
    }
    const name = `${process.pid}-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const tmp = this.tempPath();
    const packPath = path.join(this.packDir, `${name}.pack`);
    await this.files.pack({
      chunks: [...objects.values()],
      index: encodePackIndex(entries),
      tmpPack: `${tmp}.pack`,
      tmpIndex: `${tmp}.idx`,
      packPath,
      indexPath: path.join(this.packDir, `${name}.idx`),
      packDir: this.packDir,
    });
    this.indexesRead.add(`${name}.idx`);
    for (const e of entries) this.packed.set(e.objectId, { pack: packPath, offset: e.offset, length: e.length });
  }

  /** Streams to a temp file, fsynced and verified; placing it renames it to its loose path. */
  async receive(objectId: string, body: Readable, maxBytes: number): Promise<ReceivedObject> {
    const target = this.pathOf(objectId);
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
    if (upload.sha256 !== objectId) {
      await fs.rm(tmp, { force: true });
      throw new HashMismatchError(objectId, upload.sha256);
    }
    return {
      size: upload.size,
      place: async () => {
        await fs.mkdir(path.dirname(target), { recursive: true });
        await fs.rename(tmp, target);
        // The rename is durable once the directory is.
        await syncDir(path.dirname(target));
      },
      discard: () => fs.rm(tmp, { force: true }),
    };
  }

  get(objectId: string): Promise<Buffer> {
    return this.relocating(async () => {
      const [bytes] = await this.files.read([await this.locate(objectId)]);
      return bytes!;
    });
  }

  getMany(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    return this.relocating(() => this.readRanges(objects));
  }

  getManyWithRoom(
    objects: readonly { object_id: string; size: number }[],
    room: readonly number[],
  ): Promise<RoomyRead> {
    return this.relocating(async () => this.files.readWithRoom(await this.rangesOf(objects), room));
  }

  private async readRanges(objects: readonly { object_id: string; size: number }[]): Promise<Buffer[]> {
    return this.files.read(await this.rangesOf(objects));
  }

  private async rangesOf(objects: readonly { object_id: string; size: number }[]): Promise<ByteRange[]> {
    if (objects.some((o) => !this.packed.has(o.object_id))) await this.scan();
    return objects.map((o): ByteRange => {
      const p = this.packed.get(o.object_id);
      if (!p) return { file: this.pathOf(o.object_id), offset: 0, length: o.size };
      if (p.length !== o.size)
        throw new Error(`object ${o.object_id} is ${p.length} bytes in its pack, its row says ${o.size}`);
      return { file: p.pack, offset: p.offset, length: p.length };
    });
  }

  open(objectId: string): Promise<Readable> {
    return this.relocating(() => this.openRange(objectId));
  }

  private async openRange(objectId: string): Promise<Readable> {
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

  /** Read from disk, not from this process's memory: every copy, in every pack indexed now. */
  async *listStored(): AsyncIterable<StoredObject> {
    for (const name of await fs.readdir(this.packDir)) {
      if (!name.endsWith('.idx')) continue;
      const pack = name.slice(0, -4);
      let entries: PackEntry[];
      let storedAt: Date;
      try {
        storedAt = (await fs.stat(path.join(this.packDir, `${pack}.pack`))).mtime;
        entries = decodePackIndex(await fs.readFile(path.join(this.packDir, name)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const e of entries) yield { objectId: e.objectId, size: e.length, pack, storedAt };
    }
    for (const dir of await fs.readdir(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      for (const name of await fs.readdir(path.join(this.dir, dir))) {
        const objectId = dir + name;
        if (!isObjectId(objectId)) continue;
        const { size, mtime } = await fs.stat(path.join(this.dir, dir, name));
        yield { objectId, size, pack: null, storedAt: mtime };
      }
    }
  }

  async deleteAlone(objectIds: readonly string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const id of objectIds) {
      await fs.rm(this.pathOf(id), { force: true });
      dirs.add(path.dirname(this.pathOf(id)));
    }
    for (const dir of dirs) await syncDir(dir);
  }

  /**
   * The new pack and its index are durable before any retired index goes, so a crash in between
   * leaves two copies, never none. Retired packs lose their index here (no process will look an
   * object up in them again) and their file in deleteOrphans.
   */
  async repack(objects: readonly { objectId: string; size: number }[], retire: readonly string[]): Promise<void> {
    const bytes = await this.getMany(objects.map((o) => ({ object_id: o.objectId, size: o.size })));
    await this.writePack(new Map(objects.map((o, i) => [o.objectId, bytes[i]!])));
    for (const pack of retire) {
      await fs.rm(path.join(this.packDir, `${pack}.idx`), { force: true });
      this.indexesRead.delete(`${pack}.idx`);
    }
    await syncDir(this.packDir);
    const retired = new Set(retire.map((p) => path.join(this.packDir, `${p}.pack`)));
    for (const [id, p] of this.packed) if (retired.has(p.pack)) this.packed.delete(id);
  }

  /** Packs without an index and indexes without a pack, older than `before`; temp files of dead processes. */
  async deleteOrphans(before: Date): Promise<{ files: number; bytes: number }> {
    const removed = { files: 0, bytes: 0 };
    const remove = async (file: string) => {
      const st = await fs.stat(file).catch(() => null);
      if (!st || st.mtime >= before) return;
      await fs.rm(file, { force: true });
      removed.files++;
      removed.bytes += st.size;
    };
    const names = new Set(await fs.readdir(this.packDir));
    for (const name of names) {
      const [base, ext] = [name.slice(0, name.lastIndexOf('.')), name.slice(name.lastIndexOf('.'))];
      if (ext === '.pack' && !names.has(`${base}.idx`)) await remove(path.join(this.packDir, name));
      if (ext === '.idx' && !names.has(`${base}.pack`)) await remove(path.join(this.packDir, name));
    }
    await syncDir(this.packDir);
    for (const name of await fs.readdir(this.tmpDir)) {
      if (deadWriter(name)) await remove(path.join(this.tmpDir, name));
    }
    return removed;
  }

  close(): Promise<void> {
    return this.files.close();
  }
}

/** Files are named after the process writing them: one that died left them for good. */
function deadWriter(name: string): boolean {
  const pid = Number(name.split('-')[0]);
  return Number.isInteger(pid) && pid > 0 && !isAlive(pid);
}

const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

/** A rename or removal in a directory is durable once the directory is. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
